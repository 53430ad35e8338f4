package mns

import (
	"context"
	"errors"
	"time"
)

// Retry retries a queue write that failed for a reason that may pass (the queue service
// restarting, throttling) with backoff: 250 ms doubling, at most 2 s apart, for up to Window,
// never past the context's deadline. The worker and the poller write through it, so a brief
// MNS outage costs seconds instead of a visibility timeout. The shape follows go-cloud's
// retry.Call (https://github.com/google/go-cloud/blob/master/internal/retry/retry.go): one
// helper with an injectable sleep.
type Retry struct {
	// Window is how long a write is retried; 0 makes one attempt.
	Window time.Duration
	// Now is the clock the window is measured on; default time.Now. The time slept between
	// attempts also counts against Window, so a clock that stands still (a test's) still ends
	// the retries.
	Now func() time.Time
	// Sleep waits d or until ctx ends (then it returns ctx.Err()); default a timer.
	Sleep func(ctx context.Context, d time.Duration) error
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

// Do calls write until it succeeds, fails with an error Retryable rejects, ctx ends or the
// next wait would pass the window or ctx's deadline. It returns write's last error.
func (r Retry) Do(ctx context.Context, write func(ctx context.Context) error) error {
	now, sleep := r.Now, r.Sleep
	if now == nil {
		now = time.Now
	}
	if sleep == nil {
		sleep = sleepCtx
	}
	give := now().Add(r.Window)
	wait, slept := 250*time.Millisecond, time.Duration(0)
	for {
		err := write(ctx)
		if !Retryable(err) || ctx.Err() != nil || slept+wait > r.Window || now().Add(wait).After(give) {
			return err
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return err
		}
		if sleep(ctx, wait) != nil {
			return err
		}
		slept += wait
		wait = min(2*wait, 2*time.Second)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d): // collected once it fires or is unreferenced (Go ≥ 1.23)
		return nil
	}
}
