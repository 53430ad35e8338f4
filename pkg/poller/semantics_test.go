package poller

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
)

// TestLateEventsAfterTimeout: a pool past its deadline gets
// nodepool.timeout saying that it is still watched and until when; one
// that becomes active or fails within LateWatch then gets its late event
// (the next Sequence); one that does neither is dropped silently when the
// watch ends.
func TestLateEventsAfterTimeout(t *testing.T) {
	e := newEnv(t, envOptions{})
	rcv := newReceiver(t, e, nil)
	c := clusterID(0)
	if err := e.ens.SetProvisionTime(10 * time.Minute); err != nil {
		t.Fatal(err)
	}
	active := e.createPool(t, c, "late-active", 2)
	failed := e.createPool(t, c, "late-failed", 2)
	if err := e.ens.SetProvisionTime(100 * time.Hour); err != nil {
		t.Fatal(err)
	}
	never := e.createPool(t, c, "never", 2)
	var ms = []struct{ name, id string }{{"late-active", active}, {"late-failed", failed}, {"never", never}}
	for _, p := range ms {
		m := e.message(c, p.name, p.id, rcv.URL())
		m.Deadline = e.clock.Now().Add(time.Minute)
		e.track(t, m)
	}
	const watch = 30 * time.Minute
	p := e.poller(t, e.sender(t, e.senderConfig()), func(c *Config) { c.LateWatch = watch })

	e.clock.Advance(2 * time.Minute)
	timedOutAt := e.clock.Now()
	if s := e.tick(t, p); s.Events[callback.TypeTimeout] != 3 || s.Deleted != 0 {
		t.Fatalf("first tick: %+v, want 3 timeouts and every pool still tracked", s)
	}
	for _, call := range rcv.Calls() {
		d := call.event.Data
		if call.event.Type != callback.TypeTimeout || d.WatchUntil == nil || !d.WatchUntil.Equal(timedOutAt.Add(watch)) {
			t.Errorf("%s: %s WatchUntil %v, want timeout watched until %v", d.Name, call.event.Type, d.WatchUntil, timedOutAt.Add(watch))
		}
		if d.Error == nil || d.Error.Code != CodeTimeout || !strings.Contains(d.Error.Message, "still watched until") {
			t.Errorf("%s: timeout error %+v does not say that watching continues", d.Name, d.Error)
		}
		if d.Sequence != 1 {
			t.Errorf("%s: timeout Sequence %d, want 1", d.Name, d.Sequence)
		}
	}

	if _, err := e.ens.FailPool(c, "late-failed", 0); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(9 * time.Minute) // late-active is provisioned at 10 min
	e.tick(t, p)
	late := map[string]callback.Event{}
	for _, call := range rcv.Calls()[3:] {
		late[call.event.Data.Name] = call.event
	}
	if ev := late["late-active"]; ev.Type != callback.TypeActive || ev.Data.Sequence != 2 || ev.Data.Status == nil || ev.Data.Status.State != "active" {
		t.Errorf("late-active: %+v, want a late nodepool.active with Sequence 2", ev)
	}
	if ev := late["late-failed"]; ev.Type != callback.TypeFailed || ev.Data.Sequence != 2 || ev.Data.Error == nil || ev.Data.Error.Code != CodeFailed {
		t.Errorf("late-failed: %+v, want a late nodepool.failed with Sequence 2", ev)
	}
	if _, ok := late["never"]; ok || len(late) != 2 {
		t.Errorf("late events: %v, want one each for late-active and late-failed", late)
	}

	// The watch of the pool that never gets there ends without an event.
	e.clock.Advance(watch)
	s := e.tick(t, p)
	if s.Deleted != 1 || len(s.Events) != 0 {
		t.Errorf("tick after the watch: %+v, want the last message deleted and no event", s)
	}
	if n := len(rcv.Calls()); n != 5 {
		t.Errorf("receiver got %d calls, want 5 (3 timeouts, 2 late events)", n)
	}
	if left := e.trackedBodies(t); len(left) != 0 {
		t.Errorf("tracking messages left: %+v", left)
	}
}

// TestGoneStopsLaterEvents: once the receiver answered 410 Gone to one
// event of a request, no later event of that request is sent to it; each
// goes to the dead-letter queue as gone, unattempted.
func TestGoneStopsLaterEvents(t *testing.T) {
	e := newEnv(t, envOptions{})
	rcv := newReceiver(t, e, func(int) int { return http.StatusGone })
	c := clusterID(0)
	if err := e.ens.SetProvisionTime(time.Minute); err != nil {
		t.Fatal(err)
	}
	id := e.createPool(t, c, "p", 1)
	m := e.message(c, "p", id, rcv.URL())
	m.Tell(callback.Event{Type: callback.TypeCreating, Timestamp: e.clock.Now(),
		Data: callback.EventData{RequestId: m.RequestId, ClusterId: c, Name: "p", NodepoolId: id}}, e.clock.Now())
	e.track(t, m)
	p := e.poller(t, e.sender(t, e.senderConfig()), nil)

	e.tick(t, p) // creating → 410
	e.clock.Advance(2 * time.Minute)
	s := e.tick(t, p) // active: not sent
	if s.Events[callback.TypeActive] != 1 || s.Attempts != 0 || s.Deleted != 1 {
		t.Errorf("second tick: %+v, want active produced, not attempted, message deleted", s)
	}
	if calls := rcv.Calls(); len(calls) != 1 || calls[0].event.Type != callback.TypeCreating {
		t.Fatalf("receiver got %d calls, want only the creating that answered 410", len(calls))
	}
	dls := e.deadLetters(t)
	if len(dls) != 2 {
		t.Fatalf("dead letters: %d, want 2 (creating and active)", len(dls))
	}
	for i, want := range []struct {
		typ      string
		attempts int
	}{{callback.TypeCreating, 1}, {callback.TypeActive, 0}} {
		d := dls[i]
		if d.Reason != callback.StateGone || d.Delivery.Event.Type != want.typ || len(d.Delivery.Attempts) != want.attempts {
			t.Errorf("dead letter %d: reason %s, %s with %d attempts; want gone, %s with %d", i, d.Reason,
				d.Delivery.Event.Type, len(d.Delivery.Attempts), want.typ, want.attempts)
		}
	}
}

// TestStaleCreatingNotSentAfterActive: a nodepool.creating still waiting
// for its retry when nodepool.active was delivered is dropped, never sent
// after it; the events carry their per-request Sequence.
func TestStaleCreatingNotSentAfterActive(t *testing.T) {
	e := newEnv(t, envOptions{})
	rcv := newReceiver(t, e, func(n int) int {
		if n <= 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	c := clusterID(0)
	if err := e.ens.SetProvisionTime(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	id := e.createPool(t, c, "p", 1)
	m := e.message(c, "p", id, rcv.URL())
	m.Tell(callback.Event{Type: callback.TypeCreating, Timestamp: e.clock.Now(),
		Data: callback.EventData{RequestId: m.RequestId, ClusterId: c, Name: "p", NodepoolId: id}}, e.clock.Now())
	e.track(t, m)
	p := e.poller(t, e.sender(t, e.senderConfig()), nil)

	e.tick(t, p) // creating: 503, retry in 5 s
	e.clock.Advance(6 * time.Second)
	e.tick(t, p) // creating: 503, retry in 5 min
	e.clock.Advance(time.Minute)
	if s := e.tick(t, p); s.Delivered != 1 || s.Deleted != 1 {
		t.Errorf("tick with the pool active: %+v, want active delivered and the message deleted", s)
	}
	e.clock.Advance(10 * time.Minute)
	e.tick(t, p)

	calls := rcv.Calls()
	var types []string
	for _, c := range calls {
		types = append(types, c.event.Type)
	}
	if strings.Join(types, " ") != "nodepool.creating nodepool.creating nodepool.active" {
		t.Fatalf("receiver got %v, want two failed creating attempts then active, and nothing after", types)
	}
	if s1, s2 := calls[0].event.Data.Sequence, calls[2].event.Data.Sequence; s1 != 1 || s2 != 2 {
		t.Errorf("Sequence creating %d, active %d; want 1 and 2", s1, s2)
	}
	if dls := e.deadLetters(t); len(dls) != 0 {
		t.Errorf("dead letters %+v: a superseded event is not undeliverable", dls)
	}
	if left := e.trackedBodies(t); len(left) != 0 {
		t.Errorf("tracking messages left: %+v", left)
	}
}

// TestEventsOfOneRequestInOrder: when a check finds a pool already active
// while its creating event is still due, the two go out one after the
// other, creating first, for every request of the tick (the receiver
// records arrival order; concurrent attempts would interleave them).
func TestEventsOfOneRequestInOrder(t *testing.T) {
	e := newEnv(t, envOptions{})
	rcv := newReceiver(t, e, func(int) int { time.Sleep(2 * time.Millisecond); return http.StatusNoContent })
	if err := e.ens.SetProvisionTime(time.Second); err != nil {
		t.Fatal(err)
	}
	const pools = 24
	c := clusterID(0)
	for i := range pools {
		name := fmt.Sprintf("p%02d", i)
		id := e.createPool(t, c, name, 1)
		m := e.message(c, name, id, rcv.URL())
		m.Tell(callback.Event{Type: callback.TypeCreating, Timestamp: e.clock.Now(),
			Data: callback.EventData{RequestId: m.RequestId, ClusterId: c, Name: name, NodepoolId: id}}, e.clock.Now())
		e.track(t, m)
	}
	e.clock.Advance(time.Minute)
	p := e.poller(t, e.sender(t, e.senderConfig()), nil)
	if s := e.tick(t, p); s.Delivered != 2*pools {
		t.Fatalf("tick: %+v, want %d deliveries", s, 2*pools)
	}
	seen := map[string]string{}
	for _, call := range rcv.Calls() {
		id := call.event.Data.RequestId
		if call.event.Type == callback.TypeCreating && seen[id] == callback.TypeActive {
			t.Errorf("%s: creating arrived after active", id)
		}
		seen[id] = call.event.Type
	}
	if len(seen) != pools {
		t.Errorf("%d requests heard from, want %d", len(seen), pools)
	}
}
