package fclocal

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"
)

// TimerEvent is the FC timer trigger payload (events.TimerEvent).
type TimerEvent struct {
	TriggerTime string `json:"triggerTime"`
	TriggerName string `json:"triggerName"`
	Payload     string `json:"payload"`
}

// TimerTriggerConfig configures a TimerTrigger.
type TimerTriggerConfig struct {
	// Function to invoke (required).
	Function string
	// Invoker runs the function (required).
	Invoker Invoker
	// Interval between firings, like cronExpression "@every <Interval>"
	// (required, > 0). The first firing is one Interval after Run starts.
	Interval time.Duration
	// Name is triggerName; default "timerTrigger".
	Name string
	// Payload is the trigger's payload string.
	Payload string
	// OnResult, when set, is called after each invocation (tests, metrics).
	OnResult func(Result, error)
	// Logger receives failed invocations; nil discards.
	Logger *slog.Logger
	// Now stamps triggerTime; default time.Now.
	Now func() time.Time
}

// TimerTrigger invokes a function at a fixed interval.
type TimerTrigger struct{ cfg TimerTriggerConfig }

// NewTimerTrigger validates cfg.
func NewTimerTrigger(cfg TimerTriggerConfig) (*TimerTrigger, error) {
	if cfg.Function == "" || cfg.Invoker == nil || cfg.Interval <= 0 {
		return nil, fmt.Errorf("%w: TimerTriggerConfig needs Function, Invoker and a positive Interval", ErrConfig)
	}
	cfg.Name = cmp.Or(cfg.Name, "timerTrigger")
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &TimerTrigger{cfg: cfg}, nil
}

// Run fires until ctx ends and then returns nil. Each firing invokes the
// function synchronously with {"triggerTime","triggerName","payload"};
// firings that fall due while an invocation is still running are skipped
// (a ticker drops ticks). FC invokes timer functions asynchronously and
// may retry failures; this trigger logs failures and does not retry, so the
// next firing is the retry.
func (t *TimerTrigger) Run(ctx context.Context) error {
	tick := time.NewTicker(t.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		payload, _ := json.Marshal(TimerEvent{
			TriggerTime: t.cfg.Now().UTC().Format(time.RFC3339),
			TriggerName: t.cfg.Name,
			Payload:     t.cfg.Payload,
		})
		res, err := t.cfg.Invoker.Do(ctx, Request{Function: t.cfg.Function, Payload: payload})
		if err != nil && ctx.Err() == nil {
			t.cfg.Logger.WarnContext(ctx, "fclocal: timer invocation failed",
				slog.String("function", t.cfg.Function), slog.String("trigger", t.cfg.Name), slog.Any("error", err))
		}
		if t.cfg.OnResult != nil {
			t.cfg.OnResult(res, err)
		}
	}
}
