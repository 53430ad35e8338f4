package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/chatops"
	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/ens"
	"github.com/ensnodepool/webhook/pkg/fcadapter"
	"github.com/ensnodepool/webhook/pkg/intake"
	"github.com/ensnodepool/webhook/pkg/nodepool"
	"github.com/ensnodepool/webhook/pkg/queue"
)

// app wires pkg/intake to MNS and ENS. The clients live as long as the
// instance (connection pools, the ENS limiter); every call signs with the
// invocation's STS credentials, falling back to the environment's keys.
type app struct {
	s       config.Settings
	log     *slog.Logger
	mns     *queue.Client
	ens     *ens.Client
	handler http.Handler
}

// newApp checks the settings and builds the handler.
func newApp(s config.Settings, logw io.Writer) (*app, error) {
	if err := s.Require(config.EnvMNSEndpoint, config.EnvWebhookSecret, config.EnvSealKeys); err != nil {
		return nil, err
	}
	level, err := fcadapter.ParseLevel(s.LogLevel)
	if err != nil {
		return nil, err
	}
	a := &app{s: s, log: fcadapter.NewLogger(logw, fcadapter.LogConfig{Level: level, FunctionName: "ens-nodepool-webhook"})}
	keys, err := nodepool.ParseKeys(s.SealKeys)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", config.EnvSealKeys, err)
	}
	sealer, err := nodepool.NewSealer(keys)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", config.EnvSealKeys, err)
	}
	// The constructors want a key pair; placeholders stand in until the
	// first invocation brings its own (every call uses WithCredentials).
	cr := a.fallback()
	if !cr.Valid() {
		cr = fcadapter.Credentials{AccessKeyID: "unset", AccessKeySecret: "unset"}
	}
	if a.mns, err = queue.New(queue.Config{Endpoint: s.MNSEndpoint, Credentials: queue.Credentials(cr), Logger: a.log}); err != nil {
		return nil, err
	}
	if a.ens, err = ens.New(ens.Config{Endpoint: s.ENSEndpoint, Protocol: s.ENSProtocol, RegionID: s.ENSRegion,
		Credentials: ens.Credentials(cr), WriteRate: s.ENSWriteRate, DescribeRate: s.ENSDescribeRate, Logger: a.log}); err != nil {
		return nil, err
	}
	validator := nodepool.NewValidator(nodepool.ValidationConfig{AllowHTTPCallback: s.CallbackAllowHTTP})
	api, err := intake.New(intake.Config{
		Secrets:       s.WebhookSecrets,
		Sealer:        sealer,
		Validator:     validator,
		Queue:         sender{a},
		Pools:         pools{a},
		Logger:        a.log,
		StatusURLBase: s.PublicURL,
	})
	if err != nil {
		return nil, err
	}
	chat, err := newChatOps(s, validator, sender{a}, pools{a}, a.log)
	if err != nil {
		return nil, err
	}
	a.handler = route(api, chat)
	return a, nil
}

// route sends /v1/chatops/* to the ChatOps handler and the rest to the
// JSON API, unchanged.
func route(api, chat http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if chatops.Route(r.URL.Path) {
			chat.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// newChatOps builds the ChatOps handler; a platform without its secret
// settings is off (its route answers 404).
func newChatOps(s config.Settings, v *nodepool.Validator, q chatops.Sender, p chatops.PoolReader, log *slog.Logger) (*chatops.Handler, error) {
	presets, err := loadPresets(s.ChatOpsPresets)
	if err != nil {
		return nil, err
	}
	cfg := chatops.Config{Presets: presets, Validator: v, Queue: q, Pools: p, ExtraHosts: s.ChatOpsAllowHosts, Logger: log}
	if len(s.SlackSigningSecrets) > 0 {
		if cfg.Slack, err = chatops.NewSlackVerifier(chatops.VerifierConfig{Secrets: s.SlackSigningSecrets}); err != nil {
			return nil, fmt.Errorf("%s: %w", config.EnvSlackSigningSecret, err)
		}
	}
	if len(s.DingTalkAppSecrets) > 0 {
		if cfg.DingTalk, err = chatops.NewDingTalkVerifier(chatops.VerifierConfig{Secrets: s.DingTalkAppSecrets}); err != nil {
			return nil, fmt.Errorf("%s: %w", config.EnvDingTalkAppSecret, err)
		}
	}
	if len(s.FeishuVerificationTokens) > 0 {
		if cfg.Feishu, err = chatops.NewFeishuVerifier(chatops.FeishuConfig{VerificationTokens: s.FeishuVerificationTokens, EncryptKeys: s.FeishuEncryptKeys}); err != nil {
			return nil, fmt.Errorf("%s: %w", config.EnvFeishuToken, err)
		}
		if cfg.FeishuClient, err = chatops.NewFeishuClient(chatops.FeishuClientConfig{BaseURL: s.FeishuAPIBase, AppID: s.FeishuAppID, AppSecret: s.FeishuAppSecret}); err != nil {
			return nil, fmt.Errorf("%s: %w", config.EnvFeishuAPIBase, err)
		}
		hc, err := callback.NewClient(callback.Config{Allow: s.CallbackAllow, AllowHTTP: s.CallbackAllowHTTP, Timeout: 2 * time.Second})
		if err != nil {
			return nil, err
		}
		cfg.FeishuReplier = chatops.FeishuReplier{Client: cfg.FeishuClient, HTTP: hc}
	}
	return chatops.New(cfg)
}

// loadPresets reads CHATOPS_PRESETS: inline JSON or a file path.
func loadPresets(v string) (chatops.Presets, error) {
	data := []byte(v)
	if v != "" && !strings.HasPrefix(strings.TrimSpace(v), "{") {
		b, err := os.ReadFile(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", config.EnvChatOpsPresets, err)
		}
		data = b
	}
	ps, err := chatops.ParsePresets(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", config.EnvChatOpsPresets, err)
	}
	return ps, nil
}

func (a *app) fallback() fcadapter.Credentials {
	return fcadapter.Credentials{AccessKeyID: a.s.AccessKeyID, AccessKeySecret: a.s.AccessKeySecret, SecurityToken: a.s.SecurityToken}
}

// credentials returns the invocation's credentials, else the environment's.
func (a *app) credentials(ctx context.Context) (fcadapter.Credentials, error) {
	if cr, ok := fcadapter.CredentialsFrom(ctx); ok && cr.Valid() {
		return cr, nil
	}
	if cr := a.fallback(); cr.Valid() {
		return cr, nil
	}
	return fcadapter.Credentials{}, errors.New("webhook: no credentials: neither the invocation nor ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET carry any")
}

// sender puts envelopes on the requests queue.
type sender struct{ a *app }

// Send implements intake.Sender.
func (s sender) Send(ctx context.Context, body string) (string, error) {
	cr, err := s.a.credentials(ctx)
	if err != nil {
		return "", err
	}
	res, err := s.a.mns.WithCredentials(queue.Credentials(cr)).Queue(s.a.s.RequestsQueue).Send(ctx, body, 0)
	return res.MessageID, err
}

// pools reads node pools for the status endpoint.
type pools struct{ a *app }

// DescribeClusterNodePools implements intake.PoolReader, mapping an unknown
// cluster to intake.ErrNotFound.
func (p pools) DescribeClusterNodePools(ctx context.Context, clusterID string) ([]ens.NodePool, error) {
	cr, err := p.a.credentials(ctx)
	if err != nil {
		return nil, err
	}
	c, err := p.a.ens.WithCredentials(ens.Credentials(cr))
	if err != nil {
		return nil, err
	}
	ps, err := c.DescribeClusterNodePools(ctx, clusterID)
	if errors.Is(err, ens.ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", intake.ErrNotFound, err)
	}
	return ps, err
}
