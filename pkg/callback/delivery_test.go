package callback

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"sync/atomic"
	"testing"
	"time"
)

// roundTrip passes d through JSON as a queue message would.
func roundTrip(t *testing.T, d *Delivery) *Delivery {
	t.Helper()
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var out Delivery
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&out, d) {
		t.Fatalf("Delivery changed through JSON:\n%+v\n%+v", d, &out)
	}
	return &out
}

// drive makes attempts on the injected clock, jumping to NextAt each time,
// serialising the Delivery between attempts like the poller's ticks.
func drive(t *testing.T, tb *testBundle, d *Delivery) []time.Duration {
	t.Helper()
	start := tb.clock.Now()
	var offsets []time.Duration
	for i := 0; !d.Terminal(); i++ {
		if i > 20 {
			t.Fatal("no terminal state after 20 attempts")
		}
		tb.clock.Set(d.NextAt.Add(-time.Nanosecond))
		if _, tried := tb.sender.Try(context.Background(), d); tried {
			t.Fatal("attempt made before NextAt")
		}
		tb.clock.Set(d.NextAt)
		if _, tried := tb.sender.Try(context.Background(), d); !tried {
			t.Fatal("due attempt not made")
		}
		offsets = append(offsets, d.Attempts[len(d.Attempts)-1].At.Sub(start))
		d = roundTrip(t, d)
	}
	return offsets
}

func TestReceiverDownThenUp(t *testing.T) {
	t.Parallel()
	tb := setup(t, nil)
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n <= 3 {
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(200)
	})
	d := NewDelivery(rc.URL+"/cb", sampleEvent(), tb.clock.Now())
	got := drive(t, tb, d)
	// Jitter off (Rand = 0.5): the schedule's cumulative times 0, 5s, 5m5s, 35m5s.
	want := []time.Duration{0, 5 * time.Second, 5*time.Minute + 5*time.Second, 35*time.Minute + 5*time.Second}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("attempt times %v, want %v", got, want)
	}
	reqs := rc.Requests()
	if len(reqs) != 4 {
		t.Fatalf("%d requests, want 4", len(reqs))
	}
	for i, r := range reqs {
		if r.Header.Get(HeaderID) != reqs[0].Header.Get(HeaderID) || string(r.Body) != string(reqs[0].Body) {
			t.Errorf("request %d: webhook-id or body changed", i)
		}
		if !specVerify(t, testSecret, r.Header, r.Body) {
			t.Errorf("request %d: signature does not verify", i)
		}
	}
}

func TestAlwaysFailingExhausts(t *testing.T) {
	t.Parallel()
	tb := setup(t, nil)
	rc := newReceiver(t, status(500))
	start := tb.clock.Now()
	d := NewDelivery(rc.URL, sampleEvent(), start)
	offsets := drive(t, tb, d)
	if got, want := len(offsets), len(DefaultSchedule)+1; got != want {
		t.Fatalf("%d attempts, want %d", got, want)
	}
	if got, want := offsets[len(offsets)-1], DefaultSchedule.Total(); got != want {
		t.Errorf("last attempt at +%v, want +%v", got, want)
	}
	if got, want := len(rc.Requests()), len(DefaultSchedule)+1; got != want {
		t.Errorf("receiver saw %d requests, want %d", got, want)
	}
}

func TestExhausted(t *testing.T) {
	t.Parallel()
	tb := setup(t, func(c *Config) { c.Retry = Policy{Schedule: Schedule{time.Second, time.Second}, Jitter: -1} })
	rc := newReceiver(t, status(500))
	d := NewDelivery(rc.URL, sampleEvent(), tb.clock.Now())
	for !d.Terminal() {
		tb.clock.Set(d.NextAt)
		tb.sender.Try(context.Background(), d)
	}
	if d.State != StateExhausted || !d.Undeliverable() || !d.NextAt.IsZero() {
		t.Fatalf("state %s undeliverable %v NextAt %v", d.State, d.Undeliverable(), d.NextAt)
	}
	if len(d.Attempts) != 3 {
		t.Errorf("attempts = %d, want 3", len(d.Attempts))
	}
	for i, a := range d.Attempts {
		if a.Outcome != Retry || a.Status != 500 || a.Error == "" {
			t.Errorf("attempt %d = %+v", i, a)
		}
	}
}

func TestRecordTerminalOutcomes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		outcome       Outcome
		state         State
		undeliverable bool
	}{
		{Delivered, StateDelivered, false},
		{Gone, StateGone, true},
		{Refused, StateRefused, true},
	} {
		d := NewDelivery("https://x.test", sampleEvent(), t0)
		d.Record(Attempt{At: t0, Outcome: tc.outcome}, Policy{})
		if d.State != tc.state || !d.Terminal() || d.Undeliverable() != tc.undeliverable || d.Due(t0.Add(time.Hour)) {
			t.Errorf("%s: %+v", tc.outcome, d)
		}
		if !tc.outcome.Permanent() {
			t.Errorf("%s not permanent", tc.outcome)
		}
	}
	if Retry.Permanent() {
		t.Errorf("Retry is permanent")
	}
}

func TestRetryAfterDrivesNextAt(t *testing.T) {
	t.Parallel()
	tb := setup(t, nil)
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.Header().Set("Retry-After", "600")
		w.WriteHeader(429)
	})
	d := NewDelivery(rc.URL, sampleEvent(), tb.clock.Now())
	tb.sender.Try(context.Background(), d)
	if got, want := d.NextAt.Sub(tb.clock.Now()), 10*time.Minute; got != want {
		t.Errorf("next attempt in %v, want %v (Retry-After beats the 5 s step)", got, want)
	}
}

func TestDeliverAllBoundedConcurrency(t *testing.T) {
	t.Parallel()
	const n, slowEvery, concurrency = 40, 10, 4
	var inFlight, peak atomic.Int32
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		cur := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if cur <= p || peak.CompareAndSwap(p, cur) {
				break
			}
		}
		if r.URL.Query().Get("slow") == "1" {
			time.Sleep(200 * time.Millisecond)
		}
		w.WriteHeader(204)
	})
	tb := setup(t, nil)
	now := tb.clock.Now()
	var ds []*Delivery
	for i := range n {
		url := rc.URL + "/cb"
		if i%slowEvery == 0 {
			url += "?slow=1"
		}
		ev := sampleEvent()
		ev.Data.RequestId = "req-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		ds = append(ds, NewDelivery(url, ev, now))
	}
	notDue := NewDelivery(rc.URL, sampleEvent(), now.Add(time.Minute))
	done := NewDelivery(rc.URL, sampleEvent(), now)
	done.State = StateDelivered
	ds = append(ds, notDue, done)

	sum := tb.sender.DeliverAll(context.Background(), ds, concurrency)
	want := Summary{Attempted: n, Delivered: n, Skipped: 2}
	if sum != want {
		t.Errorf("Summary = %+v, want %+v", sum, want)
	}
	if p := peak.Load(); p > concurrency {
		t.Errorf("peak concurrency %d > %d", p, concurrency)
	}
	if got := len(rc.Requests()); got != n {
		t.Errorf("receiver saw %d requests, want %d", got, n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fresh := []*Delivery{NewDelivery(rc.URL, sampleEvent(), now)}
	if got := tb.sender.DeliverAll(ctx, fresh, 2); got.Skipped != 1 || got.Attempted != 0 {
		t.Errorf("canceled DeliverAll = %+v, want all skipped", got)
	}
}

// An attempt the caller cuts short (its context ends while the receiver
// has not answered) is not a failed attempt: the delivery stays due, with
// no history entry, so it keeps its place in the schedule. The Deliverer's
// own timeout is a failed attempt.
func TestTryCutByCallerIsNotRecorded(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(204)
	})
	defer close(release)
	for _, tc := range []struct {
		name      string
		senderTO  time.Duration
		callerTO  time.Duration
		wantTried bool
	}{
		{"caller's context ends first", 5 * time.Second, 100 * time.Millisecond, false},
		{"sender's timeout ends first", 100 * time.Millisecond, 5 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := setup(t, func(c *Config) { c.Timeout = tc.senderTO })
			d := NewDelivery(rc.URL, sampleEvent(), tb.clock.Now())
			ctx, cancel := context.WithTimeout(context.Background(), tc.callerTO)
			defer cancel()
			a, tried := tb.sender.Try(ctx, d)
			if tried != tc.wantTried || a.Outcome != Retry {
				t.Fatalf("Try = %+v, %v; want outcome retry, tried %v", a, tried, tc.wantTried)
			}
			if tc.wantTried {
				if len(d.Attempts) != 1 || !d.NextAt.After(tb.clock.Now()) {
					t.Errorf("timeout not recorded: %+v", d)
				}
				return
			}
			if len(d.Attempts) != 0 || d.State != Pending || !d.Due(tb.clock.Now()) {
				t.Errorf("cut attempt changed the delivery: %+v", d)
			}
		})
	}
}
