package ens

import (
	"context"
	"math"
	"sort"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter keeps one action class within its per-second limit as the server
// measures it: in sliding 1-second windows of request arrival.
//
// A rate.Limiter with burst 1 paces calls evenly, but pacing alone cannot
// guarantee the server's windows: arrival times differ from send times by
// network and scheduling jitter, so eleven calls sent 100ms apart can arrive
// within one second. The window guard closes that gap. It lets a call start
// only while fewer than n calls are in flight or completed within the last
// second. A call's arrival at the server lies between its start and its
// completion, so any server window holds at most n calls: of the calls in a
// window, the one started last saw all the others in flight or completed
// after the window began.
type limiter struct {
	pace  *rate.Limiter
	guard windowGuard
}

func newLimiter(perSecond float64) *limiter {
	n := max(1, int(math.Floor(perSecond)))
	return &limiter{
		pace:  rate.NewLimiter(rate.Limit(perSecond), 1),
		guard: windowGuard{n: n, wake: make(chan struct{})},
	}
}

// wait blocks until a call may start; the caller must call done when the
// call has completed.
func (l *limiter) wait(ctx context.Context) error {
	if err := l.pace.Wait(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return context.DeadlineExceeded // the wait would overrun the deadline
	}
	return l.guard.acquire(ctx)
}

func (l *limiter) done() { l.guard.release(time.Now()) }

// windowGuard counts calls in flight and completion times of the last second.
type windowGuard struct {
	n        int
	mu       sync.Mutex
	inflight int
	finished []time.Time   // ascending
	wake     chan struct{} // closed and replaced on every release
}

func (g *windowGuard) acquire(ctx context.Context) error {
	for {
		g.mu.Lock()
		now := time.Now()
		cut := now.Add(-time.Second)
		i := sort.Search(len(g.finished), func(i int) bool { return g.finished[i].After(cut) })
		g.finished = append(g.finished[:0], g.finished[i:]...)
		if g.inflight+len(g.finished) < g.n {
			g.inflight++
			g.mu.Unlock()
			return nil
		}
		wake := g.wake
		var expire <-chan time.Time
		if len(g.finished) > 0 {
			t := time.NewTimer(g.finished[0].Add(time.Second).Sub(now) + time.Millisecond)
			defer t.Stop()
			expire = t.C
		}
		g.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		case <-expire:
		}
	}
}

func (g *windowGuard) release(at time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inflight--
	i := sort.Search(len(g.finished), func(i int) bool { return g.finished[i].After(at) })
	g.finished = append(g.finished, time.Time{})
	copy(g.finished[i+1:], g.finished[i:])
	g.finished[i] = at
	close(g.wake)
	g.wake = make(chan struct{})
}
