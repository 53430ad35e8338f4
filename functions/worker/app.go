package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/fcapp"
	"github.com/ensnodepool/webhook/pkg/logattr"
	"github.com/ensnodepool/webhook/pkg/nodepool"
	"github.com/ensnodepool/webhook/pkg/tracking"
	"github.com/ensnodepool/webhook/pkg/worker"
)

// app wires the worker to ENS, MNS and callback receivers. The clients
// live as long as the instance (connection pools, the ENS rate limiters);
// each invocation signs with its own credentials.
type app struct {
	s       config.Settings
	log     *slog.Logger
	base    worker.Config // without the clients
	clients *fcapp.Clients
}

// newApp checks the settings and builds the instance's dependencies; log
// is the function's logger.
func newApp(s config.Settings, log *slog.Logger) (*app, error) {
	if err := s.Require(config.EnvMNSEndpoint); err != nil {
		return nil, err
	}
	h := &app{s: s, log: log}
	var err error
	if h.clients, err = fcapp.NewClients(s, log); err != nil {
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
		log.Warn("worker: SEAL_KEYS is not set; envelopes with a sealed password fail with UnknownSealKey")
	}
	h.base = worker.Config{
		Validator:    nodepool.NewValidator(nodepool.ValidationConfig{AllowHTTPCallback: s.CallbackAllowHTTP, CallbackAllow: s.CallbackAllow}),
		Callers:      s.Callers,
		Sealer:       sealer,
		Seen:         nodepool.NewSeen(0), // outlives invocations, like the instance
		PoolDeadline: s.PoolDeadline,
		Backoff:      tracking.Backoff{First: s.PollFirst, Max: s.PollMax},
		Logger:       log,
	}
	return h, nil
}

// Handle implements fcapp.App: one trigger invocation, the EventBridge
// MNS payload as it comes. The response is empty; an error makes the
// trigger redeliver the batch.
func (h *app) Handle(ctx context.Context, payload []byte) (struct{}, error) {
	return struct{}{}, h.handle(ctx, payload)
}

func (h *app) handle(ctx context.Context, payload []byte) error {
	cr, err := fcapp.Credentials(ctx, h.s)
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	e, q, err := h.clients.For(cr)
	if err != nil {
		return fmt.Errorf("worker: clients: %w", err)
	}
	cfg := h.base
	cfg.Pools = e
	cfg.Tracking, cfg.DeadLetter, cfg.Requests = q.Queue(h.s.TrackingQueue), q.Queue(h.s.DeadLetterQueue), q.Queue(h.s.RequestsQueue)
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
		slog.Int("describes", res.Describes), logattr.Duration("duration", time.Since(start)))
	return err
}
