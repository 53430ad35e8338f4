package ledger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
)

// Outbox operations: each names the Ledger method that OutboxRecord.Apply
// calls again.
const (
	OpQueued    = "queued"    // MarkQueued; Payload: Reserved
	OpSeen      = "seen"      // Seen; Payload: Reservation
	OpEvent     = "event"     // Event; Payload: Event
	OpFinish    = "finish"    // Finish; Payload: {Caller, Event}
	OpDelivery  = "delivery"  // Delivery; Payload: Attempt
	OpMark      = "mark"      // Mark; Payload: Mark
	OpEndFlight = "endflight" // EndFlight; Payload: {Caller}
)

// OutboxRecord is a ledger write that failed (ErrUnavailable) and waits in
// the outbox queue to be applied later, so the worker and the poller never
// hold queue work back for the ledger. Applying a record again writes the
// same columns, so a record delivered twice does no harm.
type OutboxRecord struct {
	// Op is one of the Op constants.
	Op string
	// RequestId is the request the write belongs to.
	RequestId string
	// Payload is the method's argument as JSON.
	Payload json.RawMessage
}

// finishPayload is the Payload of OpFinish.
type finishPayload struct {
	Caller string
	Event  Event
}

// flightPayload is the Payload of OpEndFlight.
type flightPayload struct{ Caller string }

func newRecord(op, requestID string, payload any) OutboxRecord {
	b, _ := json.Marshal(payload) // the payload types always encode
	return OutboxRecord{Op: op, RequestId: requestID, Payload: b}
}

// QueuedRecord is the outbox record of MarkQueued(res).
func QueuedRecord(res Reserved) OutboxRecord {
	return newRecord(OpQueued, res.Reservation.RequestId, res)
}

// SeenRecord is the outbox record of Seen(r).
func SeenRecord(r Reservation) OutboxRecord { return newRecord(OpSeen, r.RequestId, r) }

// EventRecord is the outbox record of Event(requestID, ev).
func EventRecord(requestID string, ev Event) OutboxRecord { return newRecord(OpEvent, requestID, ev) }

// FinishRecord is the outbox record of Finish(caller, requestID, ev).
func FinishRecord(caller, requestID string, ev Event) OutboxRecord {
	return newRecord(OpFinish, requestID, finishPayload{Caller: caller, Event: ev})
}

// DeliveryRecord is the outbox record of Delivery(requestID, a).
func DeliveryRecord(requestID string, a Attempt) OutboxRecord {
	return newRecord(OpDelivery, requestID, a)
}

// MarkRecord is the outbox record of Mark(requestID, m).
func MarkRecord(requestID string, m Mark) OutboxRecord { return newRecord(OpMark, requestID, m) }

// EndFlightRecord is the outbox record of EndFlight(caller, requestID).
func EndFlightRecord(caller, requestID string) OutboxRecord {
	return newRecord(OpEndFlight, requestID, flightPayload{Caller: caller})
}

// Marshal encodes rec after checking it as ParseOutbox does.
func (rec OutboxRecord) Marshal() ([]byte, error) {
	if _, err := rec.decode(); err != nil {
		return nil, err
	}
	return json.Marshal(rec)
}

// ParseOutbox decodes an outbox message strictly (unknown members are
// refused) and checks its payload as the method would. Its errors match
// ErrInvalid: such a record can never be applied; dead-letter it.
func ParseOutbox(data []byte) (OutboxRecord, error) {
	var rec OutboxRecord
	if err := strict(data, &rec); err != nil {
		return OutboxRecord{}, invalid("outbox record: %v", err)
	}
	if _, err := rec.decode(); err != nil {
		return OutboxRecord{}, err
	}
	return rec, nil
}

// Apply performs rec's write on l. Its errors are the method's: retry on
// ErrUnavailable, dead-letter anything else.
func (l *Ledger) Apply(ctx context.Context, rec OutboxRecord) error {
	apply, err := rec.decode()
	if err != nil {
		return err
	}
	return apply(ctx, l)
}

// apply is a decoded outbox record, ready to be written.
type apply func(context.Context, *Ledger) error

// decode checks rec and returns the call that applies it.
func (rec OutboxRecord) decode() (apply, error) {
	id := rec.RequestId
	if !reRequestID.MatchString(id) {
		return nil, invalid("outbox record: RequestId: want 1-64 of [A-Za-z0-9_-]")
	}
	// Each case decodes the payload (err), then checks it (chk, a closure:
	// it must see p after decoding) and binds the call (fn).
	var (
		fn  apply
		chk func() error
		err error
	)
	switch rec.Op {
	case OpQueued:
		var p Reserved
		err, chk = strict(rec.Payload, &p), func() error { return sameID(id, p.Reservation, true) }
		fn = func(ctx context.Context, l *Ledger) error { return l.MarkQueued(ctx, p) }
	case OpSeen:
		var p Reservation
		err, chk = strict(rec.Payload, &p), func() error { return sameID(id, p, false) }
		fn = func(ctx context.Context, l *Ledger) error { return l.Seen(ctx, p) }
	case OpEvent:
		var p Event
		err, chk = strict(rec.Payload, &p), func() error { return p.check() }
		fn = func(ctx context.Context, l *Ledger) error { return l.Event(ctx, id, p) }
	case OpFinish:
		var p finishPayload
		err, chk = strict(rec.Payload, &p), func() error { return errors.Join(checkFlight(p.Caller, id), p.Event.check()) }
		fn = func(ctx context.Context, l *Ledger) error { return l.Finish(ctx, p.Caller, id, p.Event) }
	case OpDelivery:
		var p Attempt
		err, chk = strict(rec.Payload, &p), func() error { return p.check() }
		fn = func(ctx context.Context, l *Ledger) error { return l.Delivery(ctx, id, p) }
	case OpMark:
		var p Mark
		err, chk = strict(rec.Payload, &p), func() error { return p.check() }
		fn = func(ctx context.Context, l *Ledger) error { return l.Mark(ctx, id, p) }
	case OpEndFlight:
		var p flightPayload
		err, chk = strict(rec.Payload, &p), func() error { return checkFlight(p.Caller, id) }
		fn = func(ctx context.Context, l *Ledger) error { return l.EndFlight(ctx, p.Caller, id) }
	default:
		return nil, invalid("outbox record: unknown Op")
	}
	if err != nil {
		return nil, invalid("outbox record %s: Payload: %v", rec.Op, err)
	}
	if err := chk(); err != nil {
		return nil, err
	}
	return fn, nil
}

// sameID checks r and that it belongs to the record's RequestId.
func sameID(id string, r Reservation, needKey bool) error {
	if r.RequestId != id {
		return invalid("outbox record: Payload RequestId differs from the record's")
	}
	return r.check(needKey)
}

// strict decodes one JSON value into v, refusing unknown members and
// trailing data.
func strict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}
