package poller

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
)

// host is one callback destination's share of a tick's deliveries.
type host struct {
	slots chan struct{} // PerHost attempts in flight
	held  int           // items waiting on this host (under tick.mu)
	// silent counts consecutive attempts that got no response (timeout,
	// connection refused or reset); PerHost of them mark the host as not
	// answering, and its deferred attempts wait for the next tick.
	silent atomic.Int32
	// quick is set while the host's last attempt got a response within
	// quickAnswer: such a host drains its share fast, and may hold more
	// than HostPending messages (up to the tick's MaxPending).
	quick atomic.Bool
}

// quickAnswer is how fast a host must answer to be held to the tick's
// limit only, not to HostPending.
const quickAnswer = time.Second

// hostOf returns the tick's share of the destination of d (scheme and
// host:port of its URL; an unparseable URL is its own destination, and
// the Sender refuses it).
func (t *tick) hostOf(d *callback.Delivery) *host {
	key := d.URL
	if u, err := url.Parse(d.URL); err == nil && u.Host != "" {
		key = u.Scheme + "://" + strings.ToLower(u.Host)
	}
	h := t.hosts[key]
	if h == nil {
		h = &host{slots: make(chan struct{}, t.p.cfg.PerHost)}
		t.hosts[key] = h
	}
	return h
}

// dispatch starts the due attempts of it without waiting for them. An
// item that finds the tick's pending set full until room is closed, or a due attempt whose slow host already holds HostPending
// items, is deferred instead.
func (t *tick) dispatch(ctx context.Context, it *item, room <-chan struct{}) {
	select {
	case t.pending <- struct{}{}:
	case <-room: // closed when the wait is over (or ctx ended)
		for range it.due {
			t.deferAttempt(it, nil)
		}
		t.writeBack(ctx, []*item{it})
		return
	}
	type job struct {
		d *callback.Delivery
		h *host
	}
	var jobs []job
	t.mu.Lock()
	for _, d := range it.due {
		h := t.hostOf(d)
		if h.held >= t.p.cfg.HostPending && !h.quick.Load() {
			t.mu.Unlock()
			t.deferAttempt(it, h)
			t.mu.Lock()
			continue
		}
		if !slices.Contains(it.hosts, h) {
			h.held++
			it.hosts = append(it.hosts, h)
		}
		jobs = append(jobs, job{d, h})
	}
	t.mu.Unlock()
	if len(jobs) == 0 {
		t.finished <- it
		return
	}
	// One request's events go out one after another, in the order they
	// were produced (creating before active), so a receiver never gets an
	// earlier event after a later one of the same check.
	t.attempts.Add(1)
	go func() {
		defer t.attempts.Done()
		for _, j := range jobs {
			t.attempt(it, j.d, j.h)
		}
		t.finished <- it
	}()
}

// attempt makes d's due attempt within h's share and the tick's, or defers
// it when no slot frees before the budget ends.
func (t *tick) attempt(it *item, d *callback.Delivery, h *host) {
	actx := t.attemptCtx
	select {
	case h.slots <- struct{}{}:
	case <-actx.Done():
		t.deferAttempt(it, h)
		return
	}
	defer func() { <-h.slots }()
	select {
	case t.global <- struct{}{}:
	case <-actx.Done():
		t.deferAttempt(it, h)
		return
	}
	defer func() { <-t.global }()
	started := time.Now()
	a, tried := t.p.cfg.Deliverer.Try(actx, d)
	if !tried {
		// Not due after all, or cut at the end of the budget: it keeps its
		// place in the schedule.
		if d.Due(t.p.cfg.Now()) {
			t.deferAttempt(it, h)
		}
		return
	}
	if a.Outcome == callback.Retry && a.Status == 0 {
		h.silent.Add(1)
	} else {
		h.silent.Store(0)
	}
	h.quick.Store(a.Status != 0 && time.Since(started) < quickAnswer)
	t.count(func(s *Stats) {
		s.Attempts++
		if a.Outcome == callback.Delivered {
			s.Delivered++
		} else if d.State == callback.Pending {
			s.Retrying++
		}
	})
}

// deferAttempt records that a due attempt of it was not made: its message
// comes back after DeferWait, or at the next tick when its host (nil:
// unknown) has stopped answering.
func (t *tick) deferAttempt(it *item, h *host) {
	until := time.Now().Add(t.p.cfg.DeferWait)
	if h != nil && int(h.silent.Load()) >= t.p.cfg.PerHost || !until.Before(t.stopAt) {
		until = t.stopAt.Add(time.Second)
	} else {
		t.mu.Lock()
		if until.After(t.deferredDue) {
			t.deferredDue = until
		}
		t.mu.Unlock()
	}
	it.mu.Lock()
	if until.After(it.deferUntil) {
		it.deferUntil = until
	}
	it.mu.Unlock()
	t.count(func(s *Stats) { s.Deferred++ })
}
