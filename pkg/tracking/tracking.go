// Package tracking defines the tracking message: one message per in-flight
// node pool on the tracking queue, carrying what ENS does not know — the
// callback URL, the RequestId, the last state told, and the callbacks not
// yet delivered with their attempt history. The worker writes the first
// one; the poller reads it each time it becomes visible and replaces it
// ("send the new message, then delete the old") until the pool is terminal
// and every callback is delivered or dead-lettered.
package tracking

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// Version is the tracking message format this package writes and reads.
const Version = 1

// MissingLimit is how many consecutive checks must miss a pool before it
// is reported as vanished.
const MissingLimit = 2

// ErrInvalid is matched by every Parse error.
var ErrInvalid = errors.New("tracking: invalid message")

// Message is the body of one tracking-queue message.
type Message struct {
	// Version is the format, 1.
	Version int
	// RequestId, ClusterId and Name identify the request and the pool.
	RequestId, ClusterId, Name string
	// NodepoolId is the ENS id; empty for a request that failed before ENS
	// assigned one (then the message only carries its failed callback).
	NodepoolId string `json:",omitempty"`
	// EnsRegionId is the pool's ENS region as ENS last reported it.
	EnsRegionId string `json:",omitempty"`
	// Caller is the caller (CALLERS Id) the pool was created for, so its
	// events are signed with that caller's callback secret; empty in
	// simple mode. Never the secret itself.
	Caller string `json:",omitempty"`
	// CallbackUrl is where events go; empty when the caller gave none.
	CallbackUrl string `json:",omitempty"`
	// CallbackFormat is the chat format of the callback (see
	// callback.Delivery.Format); empty is the Standard Webhooks JSON.
	CallbackFormat string `json:",omitempty"`
	// CallbackExpiresAt is when CallbackUrl stops accepting posts; zero is never.
	CallbackExpiresAt time.Time `json:",omitzero"`
	// CreatedAt is when the pool was created or adopted.
	CreatedAt time.Time
	// Deadline is when the poller gives up and reports nodepool.timeout.
	Deadline time.Time
	// LastState is the last ENS Status.State the poller saw.
	LastState string `json:",omitempty"`
	// Told lists the event types already queued for delivery, so each
	// event is produced once however often the message is redelivered.
	Told []string `json:",omitempty"`
	// Checks counts status checks so far; the poll interval backs off with it.
	Checks int `json:",omitempty"`
	// CheckedAt is when the cluster read that the last check used began.
	// A check needs a read that began after it (and after CreatedAt): an
	// older list says nothing new about this pool.
	CheckedAt time.Time `json:",omitzero"`
	// Missing counts consecutive checks that did not find the pool listed;
	// the pool is declared vanished only after MissingLimit of them, so a
	// pagination shift between pages during one read is not a false alarm.
	Missing int `json:",omitempty"`
	// Terminal is set once the pool needs no more checks: active or
	// failed was produced, or WatchUntil passed after a timeout. Only
	// deliveries remain.
	Terminal bool `json:",omitempty"`
	// WatchUntil is set when nodepool.timeout is produced: the pool is
	// still checked until then, and a late nodepool.active or
	// nodepool.failed is produced if it gets there.
	WatchUntil time.Time `json:",omitzero"`
	// CallbackGone is set once CallbackUrl answered 410 Gone: no later
	// event of this request is sent to it (each is dead-lettered as gone).
	CallbackGone bool `json:",omitempty"`
	// Delivered is the highest event Sequence delivered so far; a pending
	// delivery of an earlier event is dropped as superseded rather than
	// sent after it.
	Delivered int `json:",omitempty"`
	// Deliveries are the callbacks not yet delivered, with their history.
	Deliveries []callback.Delivery `json:",omitempty"`
}

// Parse decodes and checks a tracking message body.
func Parse(body []byte) (*Message, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var m Message
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrInvalid)
	}
	switch {
	case m.Version != Version:
		return nil, fmt.Errorf("%w: version %d, want %d", ErrInvalid, m.Version, Version)
	case m.RequestId == "" || m.ClusterId == "" || m.Name == "":
		return nil, fmt.Errorf("%w: RequestId, ClusterId and Name are required", ErrInvalid)
	case !nodepool.ValidRequestID(m.RequestId) || !nodepool.ValidPoolKey(m.ClusterId, m.Name) ||
		(m.Caller != "" && !nodepool.ValidCallerID(m.Caller)):
		// Whoever wrote it (a crafted redrive record included), ids that
		// are not well-formed reach no event, log or record.
		return nil, fmt.Errorf("%w: RequestId, ClusterId, Name or Caller is not well-formed", ErrInvalid)
	case m.NodepoolId == "" && !m.Terminal:
		return nil, fmt.Errorf("%w: a pool without NodepoolId must be Terminal", ErrInvalid)
	}
	return &m, nil
}

// Marshal encodes m.
func (m *Message) Marshal() (string, error) {
	m.Version = Version
	b, err := json.Marshal(m)
	return string(b), err
}

// WasTold reports whether event type t was already produced.
func (m *Message) WasTold(t string) bool {
	for _, x := range m.Told {
		if x == t {
			return true
		}
	}
	return false
}

// Tell queues ev for delivery to the callback URL (if any) unless an event
// of its type was already produced, and records it as told. ev gets the
// request's next Sequence (1 for the first event). After the URL answered
// 410 Gone the delivery starts out gone: it is never sent, and goes to the
// dead-letter queue like any undeliverable event. It reports whether ev
// was new.
func (m *Message) Tell(ev callback.Event, now time.Time) bool {
	if m.WasTold(ev.Type) {
		return false
	}
	m.Told = append(m.Told, ev.Type)
	ev.Data.Sequence = len(m.Told)
	if m.CallbackUrl != "" {
		d := callback.NewDelivery(m.CallbackUrl, ev, now)
		d.Format, d.ExpiresAt, d.Caller = m.CallbackFormat, m.CallbackExpiresAt, m.Caller
		if m.CallbackGone {
			d.State, d.NextAt = callback.StateGone, time.Time{}
		}
		m.Deliveries = append(m.Deliveries, *d)
	}
	return true
}

// Observe folds the results of delivery attempts into m: a delivery that
// ended gone (410, or an expired chat URL) marks the callback URL gone and
// ends every other pending delivery to it as gone, unsent; a delivered one
// raises Delivered. It then removes the pending deliveries of events
// older than the latest delivered one, so a retried nodepool.creating is
// never sent after nodepool.active, and returns them (superseded: the
// receiver already knows a later state). Callers run it after attempts,
// before they settle the terminal deliveries.
func (m *Message) Observe() (superseded []callback.Delivery) {
	for i := range m.Deliveries {
		d := &m.Deliveries[i]
		switch d.State {
		case callback.StateGone:
			if d.URL == m.CallbackUrl {
				m.CallbackGone = true
			}
		case callback.StateDelivered:
			m.Delivered = max(m.Delivered, d.Event.Data.Sequence)
		}
	}
	keep := m.Deliveries[:0]
	for _, d := range m.Deliveries {
		if !d.Terminal() {
			switch {
			case m.CallbackGone && d.URL == m.CallbackUrl:
				d.State, d.NextAt = callback.StateGone, time.Time{}
			case d.Event.Data.Sequence < m.Delivered:
				superseded = append(superseded, d)
				continue
			}
		}
		keep = append(keep, d)
	}
	clear(m.Deliveries[len(keep):])
	m.Deliveries = keep
	if len(keep) == 0 {
		m.Deliveries = nil
	}
	return superseded
}

// Done reports whether the message can be deleted: the pool is terminal
// and no delivery is pending.
func (m *Message) Done() bool {
	if !m.Terminal {
		return false
	}
	for i := range m.Deliveries {
		if !m.Deliveries[i].Terminal() {
			return false
		}
	}
	return true
}

// Backoff is the adaptive poll interval: First after creation, doubling
// with every check, capped at Max.
type Backoff struct {
	// First is the wait before the first check (default 10 s).
	First time.Duration
	// Max caps the wait (default 50 s, under the poller's 1-minute timer).
	Max time.Duration
}

func (b Backoff) withDefaults() Backoff {
	if b.First <= 0 {
		b.First = 10 * time.Second
	}
	if b.Max <= 0 {
		b.Max = 50 * time.Second
	}
	return b
}

// NextWake returns how long m should stay invisible after now: until its
// next status check (unless Terminal), its earliest pending delivery, or
// its deadline, whichever comes first; never less than a second.
func (m *Message) NextWake(now time.Time, b Backoff) time.Duration {
	b = b.withDefaults()
	var wake time.Time
	if !m.Terminal {
		d := b.First
		for i := 0; i < m.Checks && d < b.Max; i++ {
			d *= 2
		}
		wake = now.Add(min(d, b.Max))
		// Wake at the deadline (to report the timeout) and at the end of
		// the watch after it, when those are still ahead.
		for _, at := range []time.Time{m.Deadline, m.WatchUntil} {
			if at.After(now) && at.Before(wake) {
				wake = at
			}
		}
	}
	for i := range m.Deliveries {
		d := &m.Deliveries[i]
		if d.Terminal() {
			continue
		}
		if wake.IsZero() || d.NextAt.Before(wake) {
			wake = d.NextAt
		}
	}
	if wake.IsZero() {
		return time.Second
	}
	return max(wake.Sub(now), time.Second)
}
