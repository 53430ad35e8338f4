// Command poller is the poller function: on each FC timer event it runs
// one poller.Tick over the tracking queue (pkg/poller).
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"

	"github.com/aliyun/fc-runtime-go-sdk/events"
	"github.com/aliyun/fc-runtime-go-sdk/fc"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/chatops"
	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/ens"
	"github.com/ensnodepool/webhook/pkg/fcadapter"
	"github.com/ensnodepool/webhook/pkg/poller"
	"github.com/ensnodepool/webhook/pkg/queue"
	"github.com/ensnodepool/webhook/pkg/tracking"
)

func main() {
	a, err := newApp(os.Getenv, os.Stderr)
	if err != nil {
		log.Fatalf("poller: %v", err)
	}
	fc.Start(a.handle)
}

// app holds what lives as long as the instance: settings and the clients
// whose connections and rate limiters are shared by all invocations.
type app struct {
	cfg    config.Settings
	log    *slog.Logger
	ens    *ens.Client
	mns    *queue.Client
	sender *callback.Sender
}

// newApp reads the settings through getenv and builds the clients. Static
// credentials from the environment are the fallback for invocations that
// carry none (local runs); on FC each invocation's STS credentials win.
func newApp(getenv func(string) string, logOut io.Writer) (*app, error) {
	cfg, err := config.FromEnv(getenv)
	if err != nil {
		return nil, err
	}
	if err := cfg.Require(config.EnvMNSEndpoint, config.EnvCallbackSecret); err != nil {
		return nil, err
	}
	level, err := fcadapter.ParseLevel(cfg.LogLevel)
	if err != nil {
		return nil, err
	}
	logger := fcadapter.NewLogger(logOut, fcadapter.LogConfig{Level: level, FunctionName: "poller"})
	// Placeholder keys let the clients be built before the first
	// invocation brings real ones; every call uses WithCredentials.
	ak, sk := cfg.AccessKeyID, cfg.AccessKeySecret
	if ak == "" || sk == "" {
		ak, sk = "unset", "unset"
	}
	ensClient, err := ens.New(ens.Config{
		Endpoint: cfg.ENSEndpoint, Protocol: cfg.ENSProtocol, RegionID: cfg.ENSRegion,
		Credentials: ens.Credentials{AccessKeyID: ak, AccessKeySecret: sk, SecurityToken: cfg.SecurityToken},
		WriteRate:   cfg.ENSWriteRate, DescribeRate: cfg.ENSDescribeRate, Logger: logger,
	})
	if err != nil {
		return nil, err
	}
	mns, err := queue.New(queue.Config{Endpoint: cfg.MNSEndpoint, Logger: logger,
		Credentials: queue.Credentials{AccessKeyID: ak, AccessKeySecret: sk, SecurityToken: cfg.SecurityToken}})
	if err != nil {
		return nil, err
	}
	renderers, err := chatRenderers(cfg)
	if err != nil {
		return nil, err
	}
	sender, err := callback.NewSender(callback.Config{Secrets: []string{cfg.CallbackSecret},
		AllowHTTP: cfg.CallbackAllowHTTP, Allow: cfg.CallbackAllow, Renderers: renderers, Logger: logger})
	if err != nil {
		return nil, err
	}
	return &app{cfg: cfg, log: logger, ens: ensClient, mns: mns, sender: sender}, nil
}

// handle runs one tick for a timer event. It returns an error only when
// the tracking queue could not be read; the next timer event simply runs
// the next tick (s.yaml sets maxAsyncRetryAttempts: 0).
func (a *app) handle(ctx context.Context, ev events.TimerEvent) error {
	ctx = fcadapter.WithInvocation(ctx)
	cr, ok := fcadapter.CredentialsFrom(ctx)
	if !ok {
		cr = fcadapter.Credentials{AccessKeyID: a.cfg.AccessKeyID, AccessKeySecret: a.cfg.AccessKeySecret,
			SecurityToken: a.cfg.SecurityToken}
	}
	if !cr.Valid() {
		return fmt.Errorf("poller: no credentials in the invocation or the environment")
	}
	ensClient, err := a.ens.WithCredentials(ens.Credentials(cr))
	if err != nil {
		return err
	}
	mns := a.mns.WithCredentials(queue.Credentials(cr))
	p, err := poller.New(poller.Config{
		Tracking:        mns.Queue(a.cfg.TrackingQueue),
		DeadLetter:      mns.Queue(a.cfg.DeadLetterQueue),
		Pools:           ensClient,
		Deliverer:       a.sender,
		DefaultDeadline: a.cfg.PoolDeadline,
		Backoff:         tracking.Backoff{First: a.cfg.PollFirst, Max: a.cfg.PollMax},
		Logger:          a.log,
	})
	if err != nil {
		return err
	}
	if ev.TriggerName != nil {
		a.log.DebugContext(ctx, "poller: timer event", slog.String("trigger", *ev.TriggerName))
	}
	_, err = p.Tick(ctx)
	return err
}

// chatRenderers returns the chat platforms' result formats (pkg/chatops);
// Feishu replies need FEISHU_APP_ID and FEISHU_APP_SECRET.
func chatRenderers(s config.Settings) (map[string]callback.Renderer, error) {
	rc := chatops.RenderConfig{ExtraHosts: s.ChatOpsAllowHosts}
	if s.FeishuAppID != "" && s.FeishuAppSecret != "" {
		fc, err := chatops.NewFeishuClient(chatops.FeishuClientConfig{BaseURL: s.FeishuAPIBase, AppID: s.FeishuAppID, AppSecret: s.FeishuAppSecret})
		if err != nil {
			return nil, err
		}
		rc.Feishu = fc
	}
	return chatops.Renderers(rc), nil
}
