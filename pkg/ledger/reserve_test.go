package ledger

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/dev/otssim"
)

// One answer to a key on every instance: the first body gets its
// RequestId; the same body again, on another instance, gets the first
// RequestId with Queued (nothing queued twice); another body gets 422 with
// the first RequestId.
func TestReserveReplayAndReuse(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.accept(t, b.reservation("acme", "key-1", "d1", "req_first"))

	other := b.open(t) // another instance
	res, err := other.Reserve(ctx, b.reservation("acme", "key-1", "d1", "req_second"))
	if err != nil || !res.Queued || res.RequestId != "req_first" {
		t.Fatalf("same body: %+v, %v; want Queued with req_first", res, err)
	}
	_, err = other.Reserve(ctx, b.reservation("acme", "key-1", "d2", "req_third"))
	var reused *KeyReusedError
	if !errors.As(err, &reused) || reused.RequestId != "req_first" || !errors.Is(err, ErrKeyReused) {
		t.Fatalf("other body: err = %v; want *KeyReusedError for req_first", err)
	}
	// Keys are per caller: another caller's key-1 is a new key.
	if res, err := other.Reserve(ctx, b.reservation("other", "key-1", "d2", "req_fourth")); err != nil || res.Queued {
		t.Fatalf("another caller's key: %+v, %v", res, err)
	}
	// Simple mode (caller "") has its own keys too.
	if res, err := other.Reserve(ctx, b.reservation("", "key-1", "d3", "req_fifth")); err != nil || res.Queued {
		t.Fatalf("simple mode key: %+v, %v", res, err)
	}
}

// Instances race for one key: exactly one holds the reservation; while it
// has not queued, the others are told it is in progress (409) with its
// RequestId, or 422 for another body; once it has, they all get its
// RequestId and queue nothing.
func TestReserveRace(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	const n = 8
	instances := make([]*Ledger, n)
	for i := range instances {
		instances[i] = b.open(t)
	}
	results := make([]Reserved, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			digest := "same"
			if i%4 == 3 {
				digest = "other"
			}
			results[i], errs[i] = instances[i].Reserve(ctx, b.reservation("acme", "race", digest, reqID(i)))
		})
	}
	wg.Wait()
	winner := -1
	for i := range n {
		if errs[i] == nil {
			if winner >= 0 {
				t.Fatalf("two holders: %d and %d", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 || results[winner].Queued || results[winner].RequestId != reqID(winner) {
		t.Fatalf("no single holder: results %+v, errs %v", results, errs)
	}
	winDigest := results[winner].Reservation.Digest
	for i := range n {
		if i == winner {
			continue
		}
		var inProgress *InProgressError
		var reused *KeyReusedError
		sameBody := (i%4 == 3) == (winDigest == "other")
		switch {
		case sameBody && errors.As(errs[i], &inProgress):
			if inProgress.RequestId != reqID(winner) || inProgress.RetryAfter <= 0 || inProgress.RetryAfter > DefaultLease {
				t.Errorf("%d: %+v", i, inProgress)
			}
		case !sameBody && errors.As(errs[i], &reused):
			if reused.RequestId != reqID(winner) {
				t.Errorf("%d: reused names %s", i, reused.RequestId)
			}
		default:
			t.Errorf("%d (same body: %v): err = %v", i, sameBody, errs[i])
		}
	}
	if err := instances[winner].MarkQueued(ctx, results[winner]); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		res, err := instances[i].Reserve(ctx, b.reservation("acme", "race", winDigest, reqID(100+i)))
		if err != nil || !res.Queued || res.RequestId != reqID(winner) {
			t.Fatalf("after MarkQueued, %d: %+v, %v", i, res, err)
		}
	}
}

// A holder that died (no MarkQueued, no Release) blocks its key for the
// lease only; then another Reserve takes it over, keeping the first
// RequestId and AcceptedAt, and the old holder can no longer release it.
func TestReserveLeaseTakeover(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	first := b.reservation("acme", "k", "d", "req_dead")
	dead, err := b.l.Reserve(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(DefaultLease - time.Second)
	if _, err := b.l.Reserve(ctx, b.reservation("acme", "k", "d", "req_next")); !errors.Is(err, ErrInProgress) {
		t.Fatalf("within the lease: err = %v", err)
	}
	b.clock.Advance(2 * time.Second)
	res, err := b.l.Reserve(ctx, b.reservation("acme", "k", "d", "req_next"))
	if err != nil || res.Queued || res.RequestId != "req_dead" || !res.Reservation.At.Equal(first.At.Truncate(time.Millisecond)) {
		t.Fatalf("after the lease: %+v, %v; want the reservation of req_dead", res, err)
	}
	if err := b.l.Release(ctx, dead); err != nil {
		t.Fatal(err)
	}
	if _, err := b.l.Reserve(ctx, b.reservation("acme", "k", "other", "req_x")); !errors.Is(err, ErrKeyReused) {
		t.Fatalf("the dead holder's Release freed the key: err = %v", err)
	}
	if err := b.l.MarkQueued(ctx, res); err != nil {
		t.Fatal(err)
	}
	rec, err := b.l.Get(ctx, "req_dead")
	if err != nil || rec.State != StateAccepted || !rec.AcceptedAt.Equal(first.At.Truncate(time.Millisecond)) {
		t.Fatalf("Get = %+v, %v", rec, err)
	}
}

// Release frees a key whose request was not queued (quota refused, queue
// down), so the caller may send another body under it; a queued key is not
// released.
func TestRelease(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	res, err := b.l.Reserve(ctx, b.reservation("acme", "k", "d1", "req_1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.l.Release(ctx, res); err != nil {
		t.Fatal(err)
	}
	res = b.accept(t, b.reservation("acme", "k", "d2", "req_2"))
	if err := b.l.Release(ctx, res); err != nil {
		t.Fatal(err)
	}
	if got, err := b.l.Reserve(ctx, b.reservation("acme", "k", "d2", "req_3")); err != nil || !got.Queued || got.RequestId != "req_2" {
		t.Fatalf("a queued key was released: %+v, %v", got, err)
	}
}

// The SDK re-sends a write whose answer was lost: the simulator applies
// the PutRow, drops the connection, and the re-sent PutRow fails its
// condition. Reserve recognises its own row by its token (Once too).
func TestReserveSurvivesResend(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.fault(t, otssim.Fault{Mode: otssim.FaultDrop, After: true, Ops: []string{"PutRow"}, Count: 1})
	res, err := b.l.Reserve(ctx, b.reservation("acme", "k", "d", "req_1"))
	if err != nil || res.Queued || res.RequestId != "req_1" {
		t.Fatalf("Reserve after a lost answer: %+v, %v; want it held", res, err)
	}
	st, _ := b.sim.Stats()
	if st.Calls["PutRow"] != 2 || st.Errors["OTSConditionCheckFail"] != 1 {
		t.Fatalf("the fault did not cause a re-send: calls %v, errors %v", st.Calls, st.Errors)
	}
	b.fault(t, otssim.Fault{Mode: otssim.FaultDrop, After: true, Ops: []string{"PutRow"}, Count: 1})
	first, err := b.l.Once(ctx, "dingtalk", "nonce-1", time.Minute)
	if err != nil || !first {
		t.Fatalf("Once after a lost answer: %v, %v; want first", first, err)
	}
}

// MarkQueued never overwrites another request's record: a RequestId of
// another caller, or of another body, is ErrClaimed.
func TestMarkQueuedClaimed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.accept(t, b.reservation("acme", "k", "d1", "req_same"))
	b.clock.Advance(time.Second)
	for _, r := range []Reservation{
		b.reservation("other", "k", "d1", "req_same"),
		b.reservation("acme", "k2", "d2", "req_same"),
	} {
		res, err := b.l.Reserve(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.l.MarkQueued(ctx, res); !errors.Is(err, ErrClaimed) {
			t.Fatalf("MarkQueued(%s/%s) = %v, want ErrClaimed", r.Caller, r.Digest, err)
		}
		if err := b.l.Seen(ctx, r); !errors.Is(err, ErrClaimed) {
			t.Fatalf("Seen(%s/%s) = %v, want ErrClaimed", r.Caller, r.Digest, err)
		}
	}
	rec, err := b.l.Get(ctx, "req_same")
	if err != nil || rec.Caller != "acme" || rec.Digest != "d1" || rec.Name != "pool-d1" {
		t.Fatalf("record overwritten: %+v, %v", rec, err)
	}
	// The index rows those writes left behind do not list the record
	// again, nor under the other caller.
	for caller, want := range map[string]int{"acme": 1, "other": 0} {
		if p, err := b.l.List(ctx, caller, Filter{}); err != nil || len(p.Requests) != want {
			t.Fatalf("List(%s) = %v, %v; want %d", caller, ids(p), err, want)
		}
	}
}

// A store that fails (busy) makes Reserve ErrUnavailable within the budget,
// and nothing is reserved: once it is back, the key is new.
func TestReserveStoreBusy(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.Timeout = 600 * time.Millisecond })
	ctx := context.Background()
	b.fault(t, otssim.Fault{Mode: otssim.FaultError, For: time.Minute})
	start := time.Now()
	_, err := b.l.Reserve(ctx, b.reservation("acme", "k", "d", "req_1"))
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > 600*time.Millisecond+250*time.Millisecond {
		t.Fatalf("took %v", took)
	}
	b.sim.ClearFaults()
	b.accept(t, b.reservation("acme", "k", "d", "req_1"))
}
