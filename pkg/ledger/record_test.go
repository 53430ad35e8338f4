package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/dev/otssim"
)

// A request's record: what was accepted, each event with its Sequence,
// each delivery attempt, the marks; the state follows the last event; a
// write applied twice leaves the same record.
func TestRecordLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	r := b.reservation("acme", "k", "d", "req_life")
	b.accept(t, r)
	at := b.clock.Now().UTC().Truncate(time.Millisecond)
	steps := []func() error{
		func() error { return b.l.Event(ctx, "req_life", Event{Type: "nodepool.creating", Sequence: 1, At: at}) },
		func() error {
			return b.l.Delivery(ctx, "req_life", Attempt{WebhookId: "msg_1", Type: "nodepool.creating", At: at, Error: "dial tcp: timeout", DurationMs: 5000})
		},
		func() error {
			return b.l.Delivery(ctx, "req_life", Attempt{WebhookId: "msg_1", Type: "nodepool.creating", At: at.Add(time.Second), StatusCode: 204, DurationMs: 12})
		},
		func() error {
			return b.l.Finish(ctx, "acme", "req_life", Event{Type: "nodepool.failed", Sequence: 2, At: at.Add(time.Minute), Code: "Conflict"})
		},
		func() error {
			return b.l.Mark(ctx, "req_life", Mark{Kind: MarkDeadLettered, At: at.Add(2 * time.Minute), Reason: "gone"})
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	rec, err := b.l.Get(ctx, "req_life")
	if err != nil {
		t.Fatal(err)
	}
	want := &Record{
		RequestId: "req_life", Caller: "acme", IdempotencyKey: "k", ClusterId: r.ClusterId, Name: r.Name, Source: "webhook",
		State: StateFailed, AcceptedAt: at, Request: r.Request, Digest: "d",
		Events: []Event{
			{Type: "nodepool.creating", Sequence: 1, At: at},
			{Type: "nodepool.failed", Sequence: 2, At: at.Add(time.Minute), Code: "Conflict"},
		},
		Deliveries: []Attempt{
			{WebhookId: "msg_1", Type: "nodepool.creating", At: at, Error: "dial tcp: timeout", DurationMs: 5000},
			{WebhookId: "msg_1", Type: "nodepool.creating", At: at.Add(time.Second), StatusCode: 204, DurationMs: 12},
		},
		Marks: []Mark{{Kind: MarkDeadLettered, At: at.Add(2 * time.Minute), Reason: "gone"}},
	}
	if !reflect.DeepEqual(rec, want) {
		got, _ := json.MarshalIndent(rec, "", " ")
		exp, _ := json.MarshalIndent(want, "", " ")
		t.Fatalf("record\n%s\nwant\n%s", got, exp)
	}
	for _, step := range steps { // the outbox may apply a write again
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	if again, err := b.l.Get(ctx, "req_life"); err != nil || !reflect.DeepEqual(again, want) {
		t.Fatalf("writing again changed the record: %+v, %v", again, err)
	}
	for _, id := range []string{"req_unknown", "not an id", ""} {
		if _, err := b.l.Get(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get(%q) = %v, want ErrNotFound", id, err)
		}
	}
}

// A request the worker meets on the queue without a reservation (a queue
// producer's envelope) is recorded by Seen; its record has no key.
func TestSeen(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	r := b.reservation("", "", "d", "req_queue")
	r.Source = "queue"
	for range 2 {
		if err := b.l.Seen(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	rec, err := b.l.Get(ctx, "req_queue")
	if err != nil || rec.Caller != "" || rec.IdempotencyKey != "" || rec.Source != "queue" || rec.State != StateAccepted {
		t.Fatalf("Get = %+v, %v", rec, err)
	}
	if p, err := b.l.List(ctx, "", Filter{}); err != nil || len(p.Requests) != 1 {
		t.Fatalf("List = %v, %v", ids(p), err)
	}
}

// An event the store refused waits in the outbox; applied later, twice,
// it writes the record once.
func TestOutboxCatchUp(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.Timeout = 500 * time.Millisecond })
	ctx := context.Background()
	b.accept(t, b.reservation("acme", "k", "d", "req_o"))
	ev := Event{Type: "nodepool.active", Sequence: 1, At: b.clock.Now()}
	b.fault(t, otssim.Fault{Mode: otssim.FaultError, Code: otssim.CodeServerUnavailable, For: time.Minute})
	err := b.l.Finish(ctx, "acme", "req_o", ev)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Finish during an outage: %v", err)
	}
	msg, err := FinishRecord("acme", "req_o", ev).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	b.sim.ClearFaults()
	rec, err := ParseOutbox(msg)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := b.l.Apply(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	got, err := b.l.Get(ctx, "req_o")
	if err != nil || got.State != StateActive || len(got.Events) != 1 {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	if err := b.l.Quota(ctx, "acme", Limits{InFlight: 1}); err != nil {
		t.Fatalf("the flight did not end: %v", err)
	}
}

// Records expire with the table's time to live.
func TestRetention(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.Retention = MinRetention })
	ctx := context.Background()
	b.accept(t, b.reservation("acme", "k", "d", "req_ttl"))
	b.clock.Advance(MinRetention - time.Minute)
	if _, err := b.l.Get(ctx, "req_ttl"); err != nil {
		t.Fatalf("before the retention: %v", err)
	}
	b.clock.Advance(2 * time.Minute)
	if _, err := b.l.Get(ctx, "req_ttl"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after the retention: err = %v, want ErrNotFound", err)
	}
	if p, err := b.l.List(ctx, "acme", Filter{}); err != nil || len(p.Requests) != 0 {
		t.Fatalf("List after the retention: %v, %v", ids(p), err)
	}
	if res, err := b.l.Reserve(ctx, b.reservation("acme", "k", "other", "req_new")); err != nil || res.RequestId != "req_new" {
		t.Fatalf("the key outlived the retention: %+v, %v", res, err)
	}
}

// The table is created once; a ledger configured otherwise sees drifts,
// FixTable repairs the options, DeleteTable removes it.
func TestTableLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	if created, drifts, err := b.l.EnsureTable(ctx); err != nil || created || len(drifts) != 0 {
		t.Fatalf("EnsureTable again: %v %v %v", created, drifts, err)
	}
	longer := b.open(t, func(c *Config) { c.Retention = 2 * DefaultRetention })
	drifts, err := longer.CheckTable(ctx)
	if err != nil || len(drifts) != 1 || drifts[0].Attribute != "TimeToLive" || drifts[0].Want != "5184000" || drifts[0].Got != "2592000" {
		t.Fatalf("CheckTable = %v, %v", drifts, err)
	}
	if err := longer.FixTable(ctx); err != nil {
		t.Fatal(err)
	}
	if drifts, err := longer.CheckTable(ctx); err != nil || len(drifts) != 0 {
		t.Fatalf("after FixTable: %v, %v", drifts, err)
	}
	for range 2 {
		if err := b.l.DeleteTable(ctx); err != nil {
			t.Fatal(err)
		}
	}
	drifts, err = b.l.CheckTable(ctx)
	if err != nil || len(drifts) != 1 || drifts[0].String() != "nodepool_ledger: Table is missing, want exists" {
		t.Fatalf("CheckTable after delete = %v, %v", drifts, err)
	}
	if _, err := b.l.Get(ctx, "req_1"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Get without a table = %v, want ErrUnavailable", err)
	}
}

// Once answers true once per nonce across instances, and again after the
// ttl.
func TestOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	other := b.open(t)
	for i, tc := range []struct {
		l       *Ledger
		advance time.Duration
		want    bool
	}{{b.l, 0, true}, {other, 0, false}, {b.l, 4 * time.Minute, false}, {other, 2 * time.Minute, true}, {b.l, 0, false}} {
		b.clock.Advance(tc.advance)
		first, err := tc.l.Once(ctx, "dingtalk", "1700000000000:sign", 5*time.Minute)
		if err != nil || first != tc.want {
			t.Fatalf("step %d: %v, %v; want %v", i, first, err, tc.want)
		}
	}
	if first, err := b.l.Once(ctx, "feishu", "1700000000000:sign", time.Minute); err != nil || !first {
		t.Fatalf("another scope: %v, %v", first, err)
	}
	if _, err := b.l.Once(ctx, "Bad#Scope", "n", time.Minute); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad scope: %v", err)
	}
}
