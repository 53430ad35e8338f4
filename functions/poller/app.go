package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aliyun/fc-runtime-go-sdk/events"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/fcapp"
	"github.com/ensnodepool/webhook/pkg/poller"
	"github.com/ensnodepool/webhook/pkg/tracking"
)

// app holds what lives as long as the instance: settings, the clients
// whose connections and rate limiters all invocations share, and the
// callback sender.
type app struct {
	cfg     config.Settings
	log     *slog.Logger
	clients *fcapp.Clients
	sender  *callback.Deliverer
}

// newApp checks the settings and builds the instance's dependencies; log
// is the function's logger. Each invocation signs with its own STS
// credentials; the environment's key pair is the fallback for local runs.
func newApp(cfg config.Settings, log *slog.Logger) (*app, error) {
	if err := cfg.Require(config.EnvMNSEndpoint, config.EnvCallbackSecret); err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, log: log}
	var err error
	if a.clients, err = fcapp.NewClients(cfg, a.log); err != nil {
		return nil, err
	}
	if a.sender, err = fcapp.CallbackDeliverer(cfg, a.log); err != nil {
		return nil, err
	}
	return a, nil
}

// Handle implements fcapp.App: one tick for a timer event. The response
// is empty; an error is returned only when the tracking queue could not be
// read, and the next timer event simply runs the next tick (s.yaml sets
// maxAsyncRetryAttempts: 0).
func (a *app) Handle(ctx context.Context, ev events.TimerEvent) (struct{}, error) {
	return struct{}{}, a.handle(ctx, ev)
}

func (a *app) handle(ctx context.Context, ev events.TimerEvent) error {
	cr, err := fcapp.Credentials(ctx, a.cfg)
	if err != nil {
		return fmt.Errorf("poller: %w", err)
	}
	ensClient, mns, err := a.clients.For(cr)
	if err != nil {
		return err
	}
	p, err := poller.New(poller.Config{
		Tracking:        mns.Queue(a.cfg.TrackingQueue),
		DeadLetter:      mns.Queue(a.cfg.DeadLetterQueue),
		Pools:           ensClient,
		Deliverer:       a.sender,
		WithCallers:     a.cfg.Callers != nil,
		DefaultDeadline: a.cfg.PoolDeadline,
		LateWatch:       a.cfg.PoolLateWatch,
		Backoff:         tracking.Backoff{First: a.cfg.PollFirst, Max: a.cfg.PollMax},
		Watch:           a.cfg.PollWatch,
		PerHost:         a.cfg.CallbackPerHost,
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
