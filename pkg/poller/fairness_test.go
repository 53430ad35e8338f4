package poller

import (
	"context"
	"fmt"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
	"net/http"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/tracking"
)

// TestHangingHostDoesNotHoldOthers: 40 active pools whose receiver never
// answers are queued before 5 whose receiver answers at once. Within one
// tick the 5 are delivered, the hanging host never has more than PerHost
// attempts in flight, and its events are neither lost nor charged with
// attempts they did not get: each is attempted at most once, still
// pending, and back on the queue.
func TestHangingHostDoesNotHoldOthers(t *testing.T) {
	e := newEnv(t, envOptions{})
	hang, accepted := testkit.HangingHost(t)
	ok := newReceiver(t, e, nil)
	c := clusterID(0)
	var hanging, ordinary []tracking.Message
	for i := range 40 {
		name := fmt.Sprintf("hang-%d", i)
		hanging = append(hanging, e.message(c, name, e.createPool(t, c, name, 1), hang+"/hook"))
	}
	for i := range 5 {
		name := fmt.Sprintf("ok-%d", i)
		ordinary = append(ordinary, e.message(c, name, e.createPool(t, c, name, 1), ok.URL()))
	}
	e.track(t, hanging[:16]...)
	e.track(t, hanging[16:32]...)
	e.track(t, append(hanging[32:], ordinary...)...)
	e.clock.Advance(time.Minute) // all active

	cfg := e.senderConfig()
	cfg.Timeout = 1500 * time.Millisecond
	p := e.poller(t, e.sender(t, cfg), func(c *Config) { c.PerHost = 2; c.Reserve = 2 * time.Second })
	ctx, cancel := context.WithTimeout(context.Background(), 7*time.Second)
	defer cancel()
	s, err := p.Tick(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ok.Calls()); n != 5 {
		t.Errorf("ordinary receiver got %d callbacks in the tick, want 5 (stats %+v)", n, s)
	}
	// 5 s of budget, 1.5 s per hanging attempt, 2 at a time: at most 8
	// attempts (connections) to the hanging host, the rest deferred.
	if n := accepted(); n > 8 || n < 2 {
		t.Errorf("hanging host got %d connections, want 2..8 (PerHost 2)", n)
	}
	if s.Deferred == 0 || s.Attempts > 5+8 {
		t.Errorf("stats %+v: want deferrals and at most 13 attempts", s)
	}
	left := e.trackedBodies(t)
	if len(left) != 40 {
		for _, m := range left {
			if len(m.Name) < 4 || m.Name[:4] != "hang" {
				t.Logf("left: %+v", m)
			}
		}
		t.Fatalf("%d tracking messages left, want the 40 hanging ones (stats %+v)", len(left), s)
	}
	attempted := 0
	for _, m := range left {
		if len(m.Deliveries) != 1 || m.Deliveries[0].State != callback.Pending || len(m.Deliveries[0].Attempts) > 1 {
			t.Errorf("%s: deliveries %+v; want one pending with at most one attempt", m.Name, m.Deliveries)
			continue
		}
		attempted += len(m.Deliveries[0].Attempts)
	}
	if attempted > 8 {
		t.Errorf("%d attempts recorded for the hanging host, want ≤ 8", attempted)
	}
	if dl := e.deadLetters(t); len(dl) != 0 {
		t.Errorf("%d dead letters, want none", len(dl))
	}
}

// TestHeartbeatsHoldMessages: while a tick waits on a slow receiver, its
// message's visibility is extended with heartbeats (so another consumer
// cannot receive it, although the queue's visibility timeout has passed),
// and the write-back uses the rotated receipt handle.
func TestHeartbeatsHoldMessages(t *testing.T) {
	e := newEnv(t, envOptions{})
	slow := newReceiver(t, e, nil)
	slow.delay = 1500 * time.Millisecond
	c := clusterID(0)
	e.track(t, e.message(c, "p", e.createPool(t, c, "p", 1), slow.URL()))
	e.clock.Advance(time.Minute)
	p := e.poller(t, e.sender(t, e.senderConfig()), func(c *Config) {
		c.Visibility, c.Heartbeat = 2*time.Minute, 200*time.Millisecond
	})
	stolen := make(chan int, 1)
	go func() {
		time.Sleep(800 * time.Millisecond)
		e.clock.Advance(45 * time.Second) // past the queue's 30 s visibility timeout
		ms, err := e.tracking.Receive(context.Background(), 16, 0)
		if err != nil {
			t.Error(err)
		}
		stolen <- len(ms)
	}()
	s := e.tick(t, p)
	if n := <-stolen; n != 0 {
		t.Errorf("another consumer received %d held messages", n)
	}
	if s.Heartbeats == 0 || s.WriteErrors != 0 || s.Delivered != 1 || s.Deleted != 1 {
		t.Errorf("stats %+v: want heartbeats, one delivery and delete, no write errors", s)
	}
	if n := inQueue(t, e.tracking); n != 0 {
		t.Errorf("%d messages left", n)
	}
}

// TestWatchReportsChangeWithinTheTick: with Watch, a pool that turns
// active while the tick runs is reported by the same tick; without it,
// the tick ends once the queue is empty and the event waits.
func TestWatchReportsChangeWithinTheTick(t *testing.T) {
	for _, watch := range []time.Duration{0, 8 * time.Second} {
		t.Run(fmt.Sprint("watch=", watch), func(t *testing.T) {
			e := newEnv(t, envOptions{})
			rcv := newReceiver(t, e, nil)
			c := clusterID(0)
			e.track(t, e.message(c, "p", e.createPool(t, c, "p", 1), rcv.URL()))
			e.clock.Advance(5 * time.Second) // provisioning: 20 s
			// Domain time runs 10× faster than the wall clock.
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond):
						e.clock.Advance(500 * time.Millisecond)
					}
				}
			}()
			p := e.poller(t, e.sender(t, e.senderConfig()), func(c *Config) {
				c.Watch = watch
				c.Backoff = tracking.Backoff{First: 2 * time.Second, Max: 2 * time.Second}
			})
			s := e.tick(t, p)
			got := len(rcv.Calls())
			switch {
			case watch == 0 && (got != 0 || s.Received != 1):
				t.Errorf("without watch: %d callbacks, stats %+v; want one check and no callback", got, s)
			case watch > 0 && (got != 1 || s.Events[callback.TypeActive] != 1 || s.Received < 2):
				t.Errorf("with watch: %d callbacks, stats %+v; want the active callback after several checks", got, s)
			}
		})
	}
}

// TestWatchEndsWhenNothingIsInFlight: a watching tick over a queue with
// nothing in it ends at once (no invocation time is spent watching
// nothing).
func TestWatchEndsWhenNothingIsInFlight(t *testing.T) {
	e := newEnv(t, envOptions{})
	p := e.poller(t, e.sender(t, e.senderConfig()), func(c *Config) { c.Watch = 30 * time.Second })
	s := e.tick(t, p)
	if s.Received != 0 || s.Duration > 10*time.Second {
		t.Errorf("stats %+v: want an empty tick that did not watch", s)
	}
}

// TestBurstToOneHostInOneTick: more due callbacks to one answering host
// than it may hold at once are deferred for a moment, not to the next
// timer event: the tick goes on and delivers them all.
func TestBurstToOneHostInOneTick(t *testing.T) {
	e := newEnv(t, envOptions{})
	// Answers take 150 ms: the tick dispatches far faster than that, so
	// more than HostPending messages are waiting on the host before its
	// first answer marks it quick — a deferral is certain, not a race.
	rcv := newReceiver(t, e, func(int) int { time.Sleep(150 * time.Millisecond); return http.StatusNoContent })
	c := clusterID(0)
	var ms []tracking.Message
	for i := range 40 {
		name := fmt.Sprintf("b-%d", i)
		ms = append(ms, e.message(c, name, e.createPool(t, c, name, 1), rcv.URL()))
	}
	for i := 0; i < len(ms); i += 16 {
		e.track(t, ms[i:min(i+16, len(ms))]...)
	}
	e.clock.Advance(time.Minute)
	p := e.poller(t, e.sender(t, e.senderConfig()), func(c *Config) { c.HostPending = 8 })
	e.followWall(t)
	s := e.tick(t, p)
	if n := len(rcv.Calls()); n != 40 || s.Deferred == 0 {
		t.Errorf("%d of 40 callbacks delivered in the tick (stats %+v); want all, some after a deferral", n, s)
	}
}
