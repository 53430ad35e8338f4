package ledger

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
)

// State is a request's state, computed when it is read from the event of
// highest Sequence.
type State string

// States. A request is accepted until its first event.
const (
	StateAccepted State = "accepted"
	StateCreating State = "creating"
	StateActive   State = "active"
	StateFailed   State = "failed"
	StateTimeout  State = "timeout"
)

// Valid reports whether s is one of the States.
func (s State) Valid() bool {
	switch s {
	case StateAccepted, StateCreating, StateActive, StateFailed, StateTimeout:
		return true
	}
	return false
}

// stateOf is the state an event type ("nodepool.<state>") moves to; ok is
// false for types that do not change the state (progress events).
func stateOf(eventType string) (State, bool) {
	s, found := strings.CutPrefix(eventType, "nodepool.")
	st := State(s)
	return st, found && st != StateAccepted && st.Valid()
}

// Event is an event told to the caller (a callback's type and Sequence).
type Event struct {
	// Type is the callback type, e.g. "nodepool.active".
	Type string
	// Sequence numbers the request's events from 1; one column per
	// Sequence, so recording an event again writes the same column.
	Sequence int
	// At is when the event happened.
	At time.Time
	// Code is the error code of a failed or timeout event.
	Code string `json:",omitempty"`
}

// maxSequence keeps ev_<seq:06d> sortable as text.
const maxSequence = 999999

func (e Event) check() error {
	switch {
	case e.Type == "" || len(e.Type) > 64:
		return invalid("Event.Type: want 1-64 bytes")
	case e.Sequence < 1 || e.Sequence > maxSequence:
		return invalid("Event.Sequence: want 1..%d", maxSequence)
	case e.At.IsZero():
		return invalid("Event.At is required")
	}
	return nil
}

func (e Event) column() string { return fmt.Sprintf("ev_%06d", e.Sequence) }

// Attempt is one delivery attempt of a callback.
type Attempt struct {
	// WebhookId is the callback's webhook-id (the same on every attempt).
	WebhookId string
	// Type is the callback type.
	Type string
	// At is when the attempt started.
	At time.Time
	// StatusCode is the receiver's HTTP status (0 when none came back).
	StatusCode int `json:",omitempty"`
	// Error says why the attempt failed without a status (dial, timeout).
	Error string `json:",omitempty"`
	// DurationMs is how long the attempt took.
	DurationMs int64
}

func (a Attempt) check() error {
	switch {
	case a.WebhookId == "" || len(a.WebhookId) > 256:
		return invalid("Attempt.WebhookId: want 1-256 bytes")
	case a.At.IsZero():
		return invalid("Attempt.At is required")
	case len(a.Error) > 1024:
		return invalid("Attempt.Error: longer than 1024 bytes")
	}
	return nil
}

// column names the attempt by its start and webhook-id, so recording it
// again writes the same column.
func (a Attempt) column() string {
	h := fnv.New32a()
	h.Write([]byte(a.WebhookId))
	return fmt.Sprintf("dl_%013d_%08x", a.At.UnixMilli(), h.Sum32())
}

// Mark kinds.
const (
	MarkDeadLettered = "deadlettered"
	MarkRedriven     = "redriven"
)

// Mark records what happened to a request's callback outside delivery.
type Mark struct {
	// Kind is MarkDeadLettered or MarkRedriven.
	Kind string
	// At is when it happened.
	At time.Time
	// Reason explains it.
	Reason string `json:",omitempty"`
}

func (m Mark) check() error {
	switch {
	case m.Kind != MarkDeadLettered && m.Kind != MarkRedriven:
		return invalid("Mark.Kind: want %s or %s", MarkDeadLettered, MarkRedriven)
	case m.At.IsZero():
		return invalid("Mark.At is required")
	case len(m.Reason) > 1024:
		return invalid("Mark.Reason: longer than 1024 bytes")
	}
	return nil
}

func (m Mark) column() string { return fmt.Sprintf("mk_%013d_%s", m.At.UnixMilli(), m.Kind) }

// Event records ev for the request in one UpdateRow (its own column, so
// no read and no race with other writers).
func (l *Ledger) Event(ctx context.Context, requestID string, ev Event) error {
	ev.At = ev.At.UTC()
	return l.putCell(ctx, "event", requestID, ev)
}

// Finish records a terminal event (active, failed) and ends the request's
// flight among caller's pools in flight, in one BatchWriteRow.
func (l *Ledger) Finish(ctx context.Context, caller, requestID string, ev Event) error {
	if err := checkFlight(caller, requestID); err != nil {
		return err
	}
	ev.At = ev.At.UTC()
	chg, err := l.cell(requestID, ev)
	if err != nil {
		return err
	}
	rowErrs, err := l.batch(ctx, "finish", []tablestore.RowChange{chg, l.endFlight(caller, requestID)})
	if err != nil {
		return err
	}
	return errors.Join(rowErrs...)
}

// Delivery records one delivery attempt in one UpdateRow.
func (l *Ledger) Delivery(ctx context.Context, requestID string, a Attempt) error {
	a.At = a.At.UTC()
	return l.putCell(ctx, "delivery", requestID, a)
}

// Mark records a dead-letter or redrive mark in one UpdateRow.
func (l *Ledger) Mark(ctx context.Context, requestID string, m Mark) error {
	m.At = m.At.UTC()
	return l.putCell(ctx, "mark", requestID, m)
}

// item is what has its own column in the request row: Event, Attempt,
// Mark.
type item interface {
	check() error
	column() string
}

// putCell writes v into its column of the request row.
func (l *Ledger) putCell(ctx context.Context, op, requestID string, v item) error {
	chg, err := l.cell(requestID, v)
	if err != nil {
		return err
	}
	return l.write(ctx, op, chg)
}

// cell is an UpdateRow of the request row that puts v, checked, as JSON in
// its column.
func (l *Ledger) cell(requestID string, v item) (*tablestore.UpdateRowChange, error) {
	if !reRequestID.MatchString(requestID) {
		return nil, invalid("RequestId: want 1-64 of [A-Za-z0-9_-]")
	}
	if err := v.check(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("ledger: encoding %s: %w", v.column(), err)
	}
	chg := l.update(requestPK(requestID), noSK, cond(tablestore.RowExistenceExpectation_IGNORE, nil))
	chg.PutColumn(v.column(), string(b))
	return chg, nil
}

// Record is what the ledger knows of one request.
type Record struct {
	// RequestId identifies the request end to end.
	RequestId string
	// Caller is the caller's Id ("" in simple mode).
	Caller string
	// IdempotencyKey is the key the request was reserved under ("" for a
	// request recorded by Seen).
	IdempotencyKey string `json:",omitempty"`
	// ClusterId and Name name the node pool.
	ClusterId, Name string
	// Source is who produced the request (webhook, chatops, queue).
	Source string `json:",omitempty"`
	// State is computed from the event of highest Sequence.
	State      State
	AcceptedAt time.Time
	// Request is the request as accepted, without its password.
	Request json.RawMessage `json:",omitempty"`
	// Events, by Sequence.
	Events []Event
	// Deliveries, by start time.
	Deliveries []Attempt
	// Marks (dead-lettered, redriven), by time.
	Marks []Mark `json:",omitempty"`
	// Digest fingerprints the request body.
	Digest string `json:"-"`
}

// Get returns the record of requestID, or ErrNotFound. Callers of the API
// see only their own records: compare Record.Caller.
func (l *Ledger) Get(ctx context.Context, requestID string) (*Record, error) {
	if !reRequestID.MatchString(requestID) {
		return nil, fmt.Errorf("%w: RequestId", ErrNotFound)
	}
	r, err := l.get(ctx, "get", requestPK(requestID), noSK)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, ErrNotFound
	}
	return l.parseRecord(requestID, r), nil
}

// parseRecord builds a Record from the request row's columns. A column
// that does not decode (written by hand) is skipped with a warning.
func (l *Ledger) parseRecord(requestID string, r row) *Record {
	rec := &Record{
		RequestId: requestID, Caller: r.str("Caller"), IdempotencyKey: r.str("IdempotencyKey"),
		ClusterId: r.str("ClusterId"), Name: r.str("Name"), Source: r.str("Source"), Digest: r.str("Digest"),
		State: StateAccepted, Events: []Event{}, Deliveries: []Attempt{},
	}
	if rec.Caller == "-" {
		rec.Caller = ""
	}
	if at := r.num("AcceptedAt"); at != 0 {
		rec.AcceptedAt = fromMS(at)
	}
	if s := r.str("Request"); s != "" && json.Valid([]byte(s)) {
		rec.Request = json.RawMessage(s)
	}
	for name, v := range r {
		s, _ := v.(string)
		var err error
		switch {
		case strings.HasPrefix(name, "ev_"):
			err = decodeInto(s, &rec.Events)
		case strings.HasPrefix(name, "dl_"):
			err = decodeInto(s, &rec.Deliveries)
		case strings.HasPrefix(name, "mk_"):
			err = decodeInto(s, &rec.Marks)
		}
		if err != nil {
			l.cfg.Logger.Warn("ledger: skipping a column that does not decode",
				slog.String(logKeyRequestID, requestID), slog.String("column", name))
		}
	}
	slices.SortFunc(rec.Events, func(a, b Event) int { return cmp.Compare(a.Sequence, b.Sequence) })
	slices.SortFunc(rec.Deliveries, func(a, b Attempt) int {
		return cmp.Or(a.At.Compare(b.At), strings.Compare(a.WebhookId, b.WebhookId))
	})
	slices.SortFunc(rec.Marks, func(a, b Mark) int { return a.At.Compare(b.At) })
	for _, e := range slices.Backward(rec.Events) {
		if st, ok := stateOf(e.Type); ok {
			rec.State = st
			break
		}
	}
	return rec
}

// decodeInto appends the JSON value s to *list.
func decodeInto[T any](s string, list *[]T) error {
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return err
	}
	*list = append(*list, v)
	return nil
}
