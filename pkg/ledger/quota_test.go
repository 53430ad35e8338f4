package ledger

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// MaxRequestsPerMinute holds across instances and rolls over with the
// calendar minute of the injected clock; Retry-After points at the next
// minute.
func TestQuotaPerMinute(t *testing.T) {
	t.Parallel()
	b := setup(t) // the clock reads hh:mm:10
	ctx := context.Background()
	lim := Limits{PerMinute: 3}
	instances := []*Ledger{b.l, b.open(t), b.open(t)}
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range errs {
		wg.Go(func() { errs[i] = instances[i%3].Quota(ctx, "acme", lim) })
	}
	wg.Wait()
	admitted := 0
	for _, err := range errs {
		var qe *QuotaError
		switch {
		case err == nil:
			admitted++
		case errors.As(err, &qe):
			if qe.Quota != QuotaPerMinute || qe.Limit != 3 || qe.RetryAfter != 50*time.Second {
				t.Errorf("QuotaError %+v", qe)
			}
		default:
			t.Errorf("err = %v", err)
		}
	}
	if admitted != 3 {
		t.Fatalf("%d admitted in one minute, limit 3", admitted)
	}
	if err := b.l.Quota(ctx, "other", lim); err != nil {
		t.Fatalf("another caller's minute: %v", err)
	}
	b.clock.Advance(50 * time.Second) // the next minute
	if err := b.l.Quota(ctx, "acme", lim); err != nil {
		t.Fatalf("next minute: %v", err)
	}
	if err := b.l.Quota(ctx, "acme", Limits{}); err != nil {
		t.Fatalf("no limits: %v", err)
	}
}

// MaxPoolsInFlight counts flights whose deadline has not passed; Finish and
// EndFlight end them, and a refused request does not use up the minute.
func TestQuotaInFlight(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	now := b.clock.Now()
	lim := Limits{InFlight: 2, PerMinute: 3}
	r1 := b.reservation("acme", "k1", "d1", "req_1")
	r1.Deadline = now.Add(10 * time.Minute)
	b.accept(t, r1) // MarkQueued starts the flight
	if err := b.l.StartFlight(ctx, "acme", "req_2", now.Add(40*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := b.l.StartFlight(ctx, "acme", "req_old", now.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	var qe *QuotaError
	if err := b.l.Quota(ctx, "acme", lim); !errors.As(err, &qe) || qe.Quota != QuotaInFlight || qe.RetryAfter != 40*time.Second {
		t.Fatalf("two in flight: err = %v (%+v)", err, qe)
	}
	b.clock.Advance(time.Minute) // req_2's deadline passes
	if err := b.l.Quota(ctx, "acme", lim); err != nil {
		t.Fatalf("after a deadline: %v", err)
	}
	if err := b.l.StartFlight(ctx, "acme", "req_3", b.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := b.l.Quota(ctx, "acme", lim); !errors.Is(err, ErrQuota) {
		t.Fatalf("two in flight again: %v", err)
	}
	if err := b.l.Finish(ctx, "acme", "req_1", Event{Type: "nodepool.active", Sequence: 2, At: b.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := b.l.Quota(ctx, "acme", lim); err != nil {
		t.Fatalf("after Finish: %v", err)
	}
	if err := b.l.EndFlight(ctx, "acme", "req_3"); err != nil {
		t.Fatal(err)
	}
	if err := b.l.EndFlight(ctx, "acme", "req_3"); err != nil {
		t.Fatalf("ending an ended flight: %v", err)
	}
	// Three admitted in this minute; the requests refused for flights did
	// not count.
	if err := b.l.Quota(ctx, "acme", lim); err != nil {
		t.Fatalf("third of the minute: %v", err)
	}
	if err := b.l.Quota(ctx, "acme", lim); !errors.As(err, &qe) || qe.Quota != QuotaPerMinute {
		t.Fatalf("fourth of the minute: %v", err)
	}
}
