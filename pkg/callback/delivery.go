package callback

import (
	"context"
	"sync"
	"time"
)

// State is the lifecycle state of a Delivery.
type State string

// Delivery states. Every state but Pending is terminal.
const (
	// Pending: not yet delivered; the next attempt is due at NextAt.
	Pending State = "pending"
	// StateDelivered: a receiver answered 2xx.
	StateDelivered State = "delivered"
	// StateGone: the receiver answered 410; not retried.
	StateGone State = "gone"
	// StateRefused: the SSRF policy refused the destination; not retried.
	StateRefused State = "refused"
	// StateExhausted: every attempt the schedule allows failed.
	StateExhausted State = "exhausted"
)

// Delivery is the state of one callback between attempts. It is plain
// JSON, carried in queue messages by the worker and the poller: the poller
// makes the attempt that is due on each tick and carries the rest forward.
type Delivery struct {
	// MessageID is the webhook-id, stable across attempts.
	MessageID string
	// URL is the receiver's callback URL.
	URL string
	// Event is the payload; its body is byte-identical on every attempt.
	Event Event
	// Caller, when set, is the caller (CALLERS Id) the event belongs to:
	// it is signed with that caller's callback secret only
	// (Config.CallerSecrets). Never the secret itself.
	Caller string `json:",omitempty"`
	// Format selects a Renderer (Config.Renderers) for a chat platform's
	// message format; empty (the default, and every message written before
	// formats existed) is the signed Standard Webhooks JSON.
	Format string `json:",omitempty"`
	// ExpiresAt, when set, is when URL stops accepting posts (a Slack
	// response_url, a DingTalk sessionWebhook): an attempt due at or after
	// it ends the delivery as gone without sending anything.
	ExpiresAt time.Time `json:",omitzero"`
	// Attempts is the history, oldest first.
	Attempts []Attempt `json:",omitempty"`
	// NextAt is when the next attempt is due (zero once terminal).
	NextAt time.Time `json:",omitzero"`
	// State is Pending until delivered, gone, refused or exhausted.
	State State
}

// NewDelivery returns a pending Delivery of ev to url, due at now, whose
// MessageID is ev.MessageID().
func NewDelivery(url string, ev Event, now time.Time) *Delivery {
	return &Delivery{MessageID: ev.MessageID(), URL: url, Event: ev, NextAt: now, State: Pending}
}

// Terminal reports whether no further attempt will be made.
func (d *Delivery) Terminal() bool { return d.State != Pending && d.State != "" }

// Due reports whether the delivery is pending and its next attempt is due at now.
func (d *Delivery) Due(now time.Time) bool { return !d.Terminal() && !d.NextAt.After(now) }

// Undeliverable reports whether the delivery ended without reaching the
// receiver (gone, refused or exhausted): the caller writes its record
// (deadletter.NewCallbackRecord) to the dead-letter queue so nothing is
// lost.
func (d *Delivery) Undeliverable() bool {
	return d.State == StateGone || d.State == StateRefused || d.State == StateExhausted
}

// Record appends a to the history and moves the state on: Delivered, Gone
// and Refused end the delivery; Retry schedules the next attempt with p
// (from the end of the attempt, honouring a.RetryAfter) or, when p's
// schedule is used up, ends it as exhausted.
func (d *Delivery) Record(a Attempt, p Policy) {
	d.Attempts = append(d.Attempts, a)
	d.NextAt = time.Time{}
	switch a.Outcome {
	case Delivered:
		d.State = StateDelivered
	case Gone:
		d.State = StateGone
	case Refused:
		d.State = StateRefused
	default:
		next, ok := p.Next(a.At.Add(a.Duration), len(d.Attempts), a.RetryAfter)
		if !ok {
			d.State = StateExhausted
			return
		}
		d.State = Pending
		d.NextAt = next
	}
}

// Try makes the attempt d is due for, if any, and records it with the
// Deliverer's retry policy. It returns the attempt and false when d was not
// due (terminal, or NextAt in the future).
//
// An attempt that fails because ctx ended (the caller's time ran out, not
// the receiver's: the Deliverer's own Timeout is a failed attempt) is not
// recorded either: d stays due with its history and place in the schedule
// unchanged, and Try returns the attempt with false. The receiver may have
// got the request; the next attempt carries the same webhook-id.
func (s *Deliverer) Try(ctx context.Context, d *Delivery) (Attempt, bool) {
	if !d.Due(s.cfg.Now()) {
		return Attempt{}, false
	}
	a := s.attempt(ctx, target{url: d.URL, format: d.Format, expiresAt: d.ExpiresAt, caller: d.Caller}, d.MessageID, d.Event)
	if a.Outcome == Retry && ctx.Err() != nil {
		return a, false
	}
	d.Record(a, s.cfg.Retry)
	return a, true
}

// Summary counts what DeliverAll did.
type Summary struct {
	// Attempted is the number of attempts made.
	Attempted int
	// Delivered, Retrying, Gone, Refused and Exhausted count the resulting
	// states of the attempted deliveries.
	Delivered, Retrying, Gone, Refused, Exhausted int
	// Skipped counts deliveries not attempted: not due, terminal, or ctx done first.
	Skipped int
}

// DeliverAll makes the due attempt of every delivery in ds, at most
// concurrency at a time (minimum 1), so a few slow receivers do not stall
// the rest. It updates ds in place and returns once all started attempts
// have finished; deliveries not yet started when ctx is done are skipped.
func (s *Deliverer) DeliverAll(ctx context.Context, ds []*Delivery, concurrency int) Summary {
	concurrency = max(concurrency, 1)
	sem := make(chan struct{}, concurrency)
	var (
		mu  sync.Mutex
		sum Summary
		wg  sync.WaitGroup
	)
	count := func(d *Delivery, tried bool) {
		mu.Lock()
		defer mu.Unlock()
		if !tried {
			sum.Skipped++
			return
		}
		sum.Attempted++
		switch d.State {
		case StateDelivered:
			sum.Delivered++
		case StateGone:
			sum.Gone++
		case StateRefused:
			sum.Refused++
		case StateExhausted:
			sum.Exhausted++
		default:
			sum.Retrying++
		}
	}
	for _, d := range ds {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			count(d, false)
			continue
		}
		if ctx.Err() != nil {
			<-sem
			count(d, false)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_, tried := s.Try(ctx, d)
			count(d, tried)
		}()
	}
	wg.Wait()
	return sum
}
