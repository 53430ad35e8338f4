package clock_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/clock"
)

func TestSleep(t *testing.T) {
	t.Parallel()
	start := time.Now()
	if err := clock.Sleep(context.Background(), 20*time.Millisecond); err != nil || time.Since(start) < 20*time.Millisecond {
		t.Errorf("Sleep(20ms) = %v after %v; want nil after at least 20ms", err, time.Since(start))
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(10 * time.Millisecond); cancel() }()
	start = time.Now()
	if err := clock.Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) || time.Since(start) > time.Minute {
		t.Errorf("Sleep(1h) cancelled = %v after %v; want context.Canceled at once", err, time.Since(start))
	}
	if err := clock.Sleep(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep(0) on an ended context = %v, want context.Canceled", err)
	}
	if err := clock.Sleep(context.Background(), -time.Second); err != nil {
		t.Errorf("Sleep(-1s) = %v, want nil", err)
	}
}

func TestWithDefaults(t *testing.T) {
	t.Parallel()
	c := clock.Clock{}.WithDefaults()
	if d := time.Since(c.Now()); d < 0 || d > time.Minute {
		t.Errorf("default Now is %v off the wall clock", d)
	}
	if err := c.Sleep(context.Background(), time.Millisecond); err != nil {
		t.Errorf("default Sleep: %v", err)
	}
	fixed := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var slept time.Duration
	f := clock.Clock{Now: func() time.Time { return fixed },
		Sleep: func(_ context.Context, d time.Duration) error { slept += d; return nil }}.WithDefaults()
	if !f.Now().Equal(fixed) || f.Sleep(context.Background(), time.Hour) != nil || slept != time.Hour {
		t.Errorf("WithDefaults replaced set fields: now %v, slept %v", f.Now(), slept)
	}
}
