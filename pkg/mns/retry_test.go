package mns

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/clock"
)

// TestRetry drives retry.do with a fake clock that only the injected
// sleep moves, so the schedule is checked without waiting.
func TestRetry(t *testing.T) {
	t.Parallel()
	unavailable := &Error{Op: "Send", Code: ErrUnavailable, Err: errors.New("connection refused")}
	denied := &Error{Op: "Send", Code: ErrDenied}
	partial := &BatchError{Op: "SendBatch", Items: []ItemError{{Code: ErrUnavailable}}}
	tests := []struct {
		name      string
		window    time.Duration
		fails     int   // the first fails calls fail
		err       error // with this error
		wantCalls int
		wantErr   bool
		wantSlept []time.Duration
	}{
		{"success first", 8 * time.Second, 0, nil, 1, false, nil},
		{"outage ridden out", 8 * time.Second, 2, unavailable, 3, false, []time.Duration{250 * time.Millisecond, 500 * time.Millisecond}},
		{"plain transport error retried", 8 * time.Second, 1, errors.New("dial: refused"), 2, false, []time.Duration{250 * time.Millisecond}},
		{"window spent", 2 * time.Second, 100, unavailable, 4, true,
			[]time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second}},
		{"backoff capped at 2s", 8 * time.Second, 100, unavailable, 7, true, // 7.75 s slept
			[]time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 2 * time.Second, 2 * time.Second}},
		{"denied not retried", 8 * time.Second, 100, denied, 1, true, nil},
		{"partial batch not retried", 8 * time.Second, 100, partial, 1, true, nil},
		{"no window: one attempt", 0, 100, unavailable, 1, true, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			var slept []time.Duration
			r := retry{window: tc.window, clock: clock.Clock{Now: func() time.Time { return now },
				Sleep: func(_ context.Context, d time.Duration) error { slept = append(slept, d); now = now.Add(d); return nil }}}
			calls := 0
			err := r.do(context.Background(), func(context.Context) error {
				calls++
				if calls <= tc.fails {
					return tc.err
				}
				return nil
			})
			if (err != nil) != tc.wantErr || calls != tc.wantCalls {
				t.Errorf("err = %v, calls = %d; want error %v, %d calls", err, calls, tc.wantErr, tc.wantCalls)
			}
			if fmt.Sprint(slept) != fmt.Sprint(tc.wantSlept) {
				t.Errorf("slept %v, want %v", slept, tc.wantSlept)
			}
		})
	}
}

// TestRetryFrozenClock: a clock that never moves (a test's) still ends
// the retries, by the time slept.
func TestRetryFrozenClock(t *testing.T) {
	t.Parallel()
	now := time.Now()
	calls := 0
	err := retry{window: time.Second, clock: clock.Clock{Now: func() time.Time { return now },
		Sleep: func(context.Context, time.Duration) error { return nil }}}.
		do(context.Background(), func(context.Context) error { calls++; return errors.New("refused") })
	if err == nil || calls != 3 { // 250 ms + 500 ms slept; the next 1 s wait would pass the window
		t.Errorf("err = %v, calls = %d; want an error after 3 calls", err, calls)
	}
}

// TestRetryStopsWithContext: a cancelled context ends the retries at once.
func TestRetryStopsWithContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := retry{window: time.Hour}.do(ctx, func(context.Context) error {
		calls++
		cancel()
		return errors.New("refused")
	})
	if err == nil || calls != 1 {
		t.Errorf("err = %v, calls = %d; want the error after 1 call", err, calls)
	}
}
