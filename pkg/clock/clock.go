// Package clock is the injected clock of the product's time logic: what
// time it is and how to wait. Code that schedules (retries, backoff,
// deadlines) takes a Clock in its config, so tests check the schedule
// without waiting; the zero Clock is the wall clock.
package clock

import (
	"context"
	"time"
)

// Clock tells the time and waits. Set the fields to fake either; a nil
// field is the wall clock's (see WithDefaults).
type Clock struct {
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Sleep waits d or until ctx ends; nil means Sleep.
	Sleep func(ctx context.Context, d time.Duration) error
}

// WithDefaults returns c with its nil fields set to the wall clock's, so
// that c.Now() and c.Sleep(ctx, d) can be called.
func (c Clock) WithDefaults() Clock {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = Sleep
	}
	return c
}

// Sleep waits d or until ctx ends, whichever is first. It returns
// ctx.Err() when ctx ended first (or had ended already), else nil; a d of
// zero or less does not wait.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
