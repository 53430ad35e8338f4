package mns

import (
	"context"
	"errors"
	"time"

	"github.com/ensnodepool/webhook/pkg/clock"
)

// retry is the Queue's policy for sends (Config.SendRetry): a send that failed for a reason that
// may pass (the queue service restarting, throttling: Retryable) is repeated with backoff — 250 ms
// doubling, at most 2 s apart — for up to window, never past the context's deadline. A brief MNS
// outage then costs seconds instead of a visibility timeout, and no caller can forget it. The
// classifier (Retryable) is kept apart from the timing (do), as in go-cloud's retry.Call
// (https://github.com/google/go-cloud/blob/master/internal/retry/retry.go), and the clock is
// injected (Config.Clock) so the schedule is tested without waiting.
type retry struct {
	// window is how long a write is retried; ≤ 0 makes one attempt.
	window time.Duration
	// clock measures the window and sleeps between attempts. The time slept also counts against
	// the window, so a clock that stands still (a test's) still ends the retries.
	clock clock.Clock
}

// Retryable reports whether a failed write may succeed if repeated: not when the context
// ended, nor when MNS refused the request itself (ErrInvalid, ErrDenied, ErrNotFound), nor
// after a partial batch (ErrPartial: repeating it would send the delivered entries twice).
// Other errors, including transport errors that are not *Error, are retryable.
func Retryable(err error) bool {
	switch {
	case err == nil, errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case errors.Is(err, ErrPartial), errors.Is(err, ErrInvalid), errors.Is(err, ErrDenied), errors.Is(err, ErrNotFound):
		return false
	}
	return true
}

// do calls write until it succeeds, fails with an error Retryable rejects, ctx ends or the
// next wait would pass the window or ctx's deadline. It returns write's last error.
func (r retry) do(ctx context.Context, write func(ctx context.Context) error) error {
	c := r.clock.WithDefaults()
	give := c.Now().Add(r.window)
	wait, slept := 250*time.Millisecond, time.Duration(0)
	for {
		err := write(ctx)
		if !Retryable(err) || ctx.Err() != nil || slept+wait > r.window || c.Now().Add(wait).After(give) {
			return err
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return err
		}
		if c.Sleep(ctx, wait) != nil {
			return err
		}
		slept += wait
		wait = min(2*wait, 2*time.Second)
	}
}
