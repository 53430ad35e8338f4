package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/chatops"
	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/ens"
	"github.com/ensnodepool/webhook/pkg/fcadapter"
	"github.com/ensnodepool/webhook/pkg/nodepool"
	"github.com/ensnodepool/webhook/pkg/queue"
	"github.com/ensnodepool/webhook/pkg/tracking"
	"github.com/ensnodepool/webhook/pkg/worker"
)

// handler wires the worker to ENS, MNS and callback receivers. Clients are
// built on the first invocation (FC passes credentials per invocation) and
// re-signed with each invocation's credentials; the ENS rate limiters are
// shared by all of them.
type handler struct {
	s      config.Settings
	log    *slog.Logger
	base   worker.Config // without the clients
	sender *callback.Sender

	mu  sync.Mutex
	ens *ens.Client
	mns *queue.Client
}

// newHandler checks the settings and builds what does not need credentials.
func newHandler(s config.Settings, logw io.Writer) (*handler, error) {
	if err := s.Require(config.EnvMNSEndpoint, config.EnvCallbackSecret); err != nil {
		return nil, err
	}
	level, err := fcadapter.ParseLevel(s.LogLevel)
	if err != nil {
		return nil, err
	}
	log := fcadapter.NewLogger(logw, fcadapter.LogConfig{Level: level, FunctionName: "ens-nodepool-worker"})
	h := &handler{s: s, log: log}
	renderers, err := chatRenderers(s)
	if err != nil {
		return nil, err
	}
	if h.sender, err = callback.NewSender(callback.Config{Secrets: []string{s.CallbackSecret},
		AllowHTTP: s.CallbackAllowHTTP, Allow: s.CallbackAllow, Renderers: renderers, Logger: log}); err != nil {
		return nil, err
	}
	var sealer *nodepool.Sealer
	if s.SealKeys != "" {
		keys, err := nodepool.ParseKeys(s.SealKeys)
		if err != nil {
			return nil, err
		}
		if sealer, err = nodepool.NewSealer(keys); err != nil {
			return nil, err
		}
	} else {
		log.Warn("worker: SEAL_KEYS is not set; envelopes with a sealed password wait for it until their deadline")
	}
	h.base = worker.Config{
		Notifier:     h.sender,
		Validator:    nodepool.NewValidator(nodepool.ValidationConfig{AllowHTTPCallback: s.CallbackAllowHTTP}),
		Sealer:       sealer,
		PoolDeadline: s.PoolDeadline,
		Backoff:      tracking.Backoff{First: s.PollFirst, Max: s.PollMax},
		Logger:       log,
	}
	return h, nil
}

// clients returns the ENS and MNS clients signing with cr.
func (h *handler) clients(cr fcadapter.Credentials) (*ens.Client, *queue.Client, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ens == nil {
		e, err := ens.New(ens.Config{Endpoint: h.s.ENSEndpoint, Protocol: h.s.ENSProtocol, RegionID: h.s.ENSRegion,
			Credentials: ens.Credentials(cr), WriteRate: h.s.ENSWriteRate, DescribeRate: h.s.ENSDescribeRate, Logger: h.log})
		if err != nil {
			return nil, nil, err
		}
		q, err := queue.New(queue.Config{Endpoint: h.s.MNSEndpoint, Credentials: queue.Credentials(cr), Logger: h.log})
		if err != nil {
			return nil, nil, err
		}
		h.ens, h.mns = e, q
		return e, q, nil
	}
	e, err := h.ens.WithCredentials(ens.Credentials(cr))
	if err != nil {
		return nil, nil, err
	}
	return e, h.mns.WithCredentials(queue.Credentials(cr)), nil
}

// Invoke handles one trigger invocation: the EventBridge MNS payload.
func (h *handler) Invoke(ctx context.Context, payload []byte) error {
	ctx = fcadapter.WithInvocation(ctx)
	cr, ok := fcadapter.CredentialsFrom(ctx)
	if !ok {
		cr = fcadapter.Credentials{AccessKeyID: h.s.AccessKeyID, AccessKeySecret: h.s.AccessKeySecret, SecurityToken: h.s.SecurityToken}
	}
	if !cr.Valid() {
		return errors.New("worker: no credentials: neither the invocation nor ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET carry any")
	}
	e, q, err := h.clients(cr)
	if err != nil {
		return fmt.Errorf("worker: clients: %w", err)
	}
	cfg := h.base
	cfg.Pools = e
	cfg.Tracking, cfg.DeadLetter, cfg.Requests = send(q.Queue(h.s.TrackingQueue)), send(q.Queue(h.s.DeadLetterQueue)), send(q.Queue(h.s.RequestsQueue))
	w, err := worker.New(cfg)
	if err != nil {
		return err
	}
	start := time.Now()
	res, err := w.HandlePayload(ctx, payload)
	h.log.InfoContext(ctx, "worker: batch done", slog.Int("messages", len(res.Items)),
		slog.Int("created", res.Count(worker.Created)), slog.Int("adopted", res.Count(worker.Adopted)),
		slog.Int("failed", res.Count(worker.Failed)), slog.Int("rejected", res.Count(worker.Rejected)),
		slog.Int("requeued", res.Count(worker.Requeued)), slog.Int("lost", res.Count(worker.Lost)),
		slog.Int("describes", res.Describes), slog.Duration("took", time.Since(start)))
	return err
}

// send adapts a queue to worker.Sender.
func send(q *queue.Queue) worker.Sender {
	return worker.SenderFunc(func(ctx context.Context, body string, delay time.Duration) error {
		_, err := q.Send(ctx, body, delay)
		return err
	})
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
