package poller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/deadletter"
	"github.com/ensnodepool/webhook/pkg/dev/enssim"
	"github.com/ensnodepool/webhook/pkg/ens"
	"github.com/ensnodepool/webhook/pkg/nodepool"
	"github.com/ensnodepool/webhook/pkg/tracking"
)

// TestTickEvents: pools that become active, fail, vanish or time out get
// exactly one signed event each; pools still provisioning get none.
func TestTickEvents(t *testing.T) {
	e := newEnv(t, envOptions{})
	rcv := newReceiver(t, e, nil)
	c := clusterID(0)
	active := e.createPool(t, c, "active", 2)
	failed := e.createPool(t, c, "failed", 2)
	vanished := e.createPool(t, c, "vanished", 2)
	if err := e.ens.SetProvisionTime(10 * time.Minute); err != nil {
		t.Fatal(err)
	}
	slow := e.createPool(t, c, "slow", 2)
	late := e.createPool(t, c, "late", 2)
	if _, err := e.ens.FailPool(c, "failed", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ens.Vanish(c, vanished, ""); err != nil {
		t.Fatal(err)
	}
	mLate := e.message(c, "late", late, rcv.URL())
	mLate.Deadline = e.clock.Now().Add(25 * time.Second)
	mVanished := e.message(c, "vanished", vanished, rcv.URL())
	mVanished.LastState = "initial" // seen before, now gone
	mNew := e.message(c, "unlisted", "np-not-listed-yet", rcv.URL())
	e.track(t, e.message(c, "active", active, rcv.URL()), e.message(c, "failed", failed, rcv.URL()),
		mVanished, e.message(c, "slow", slow, rcv.URL()), mLate, mNew)

	e.clock.Advance(30 * time.Second)
	p := e.poller(t, e.sender(t, e.senderConfig()), nil)
	s := e.tick(t, p)
	// The vanished pool is missed once: not yet reported (a page shift
	// between two page reads must not look like a vanished pool).
	wantEvents := map[string]int{callback.TypeActive: 1, callback.TypeFailed: 1, callback.TypeTimeout: 1}
	// The timed-out pool stays tracked (watched for a late event).
	if fmt.Sprint(s.Events) != fmt.Sprint(wantEvents) || s.Received != 6 || s.Checked != 6 || s.Delivered != 3 || s.Deleted != 2 {
		t.Errorf("stats = %+v; want events %v, 6 received and checked, 3 delivered, 2 deleted", s, wantEvents)
	}
	for _, c := range rcv.Calls() {
		if c.event.Data.Name == "vanished" {
			t.Errorf("vanished pool reported after a single miss: %+v", c.event)
		}
	}
	// Later ticks produce nothing new for the same pools.
	for range 3 {
		e.clock.Advance(3 * time.Minute)
		e.tick(t, p)
	}

	// By now the never-listed pool is older than VanishGrace: vanished.
	calls := rcv.Calls()
	got := map[string]callback.Event{}
	for _, c := range calls {
		got[c.event.Data.Name] = c.event
		if id := c.header.Get("webhook-id"); id != c.event.MessageID() {
			t.Errorf("webhook-id %s, want %s", id, c.event.MessageID())
		}
	}
	if len(calls) != 5 || len(got) != 5 {
		t.Fatalf("receiver got %d calls for %d pools, want exactly 5 (one per finished pool)", len(calls), len(got))
	}
	check := func(name, typ, code string) {
		t.Helper()
		ev := got[name]
		if ev.Type != typ {
			t.Errorf("%s: type %q, want %q", name, ev.Type, typ)
		}
		if ev.Data.RequestId != "req-"+name || ev.Data.ClusterId != c {
			t.Errorf("%s: data %+v", name, ev.Data)
		}
		gotCode := ""
		if ev.Data.Error != nil {
			gotCode = ev.Data.Error.Code
		}
		if gotCode != code {
			t.Errorf("%s: error code %q, want %q", name, gotCode, code)
		}
	}
	check("active", callback.TypeActive, "")
	check("failed", callback.TypeFailed, CodeFailed)
	check("vanished", callback.TypeFailed, CodeVanished)
	check("late", callback.TypeTimeout, CodeTimeout)
	check("unlisted", callback.TypeFailed, CodeVanished)
	if st := got["active"].Data.Status; st == nil || st.State != "active" || st.ServingNodes != 2 {
		t.Errorf("active status = %+v", st)
	}
	// What ENS reports about the pool reaches the callback: its region.
	if r := got["active"].Data.EnsRegionId; r == "" {
		t.Error("active event without EnsRegionId")
	}

	// Still tracked: the slow pool, checked on every tick so far, and the
	// timed-out one, watched for a late event.
	left := e.trackedBodies(t)
	slices.SortFunc(left, func(a, b *tracking.Message) int { return strings.Compare(a.Name, b.Name) })
	if len(left) != 2 || left[1].Name != "slow" || left[1].Terminal || left[1].LastState != "initial" || left[1].Checks != 4 {
		t.Fatalf("tracking messages left: %+v, want the late and the slow pool (4 checks)", left)
	}
	if l := left[0]; l.Name != "late" || l.Terminal || !l.WatchUntil.After(l.Deadline.Add(DefaultLateWatch)) {
		t.Errorf("timed-out pool: %+v, want it watched for DefaultLateWatch after the timeout", l)
	}
}

// TestRetriesOnSchedule: a receiver down for several ticks gets its
// attempts at the times of the published schedule, and the event once it
// is back; nothing is attempted early.
func TestRetriesOnSchedule(t *testing.T) {
	e := newEnv(t, envOptions{})
	rcv := newReceiver(t, e, func(n int) int {
		if n <= 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	id := e.createPool(t, clusterID(0), "p", 1)
	e.track(t, e.message(clusterID(0), "p", id, rcv.URL()))
	p := e.poller(t, e.sender(t, e.senderConfig()), nil)

	e.clock.Advance(time.Minute) // active
	first := e.clock.Now()
	want := []time.Time{first}
	e.tick(t, p)
	for i, d := range callback.DefaultSchedule[:3] {
		// A tick just before the attempt is due must not make it.
		e.clock.Advance(d - time.Second)
		if s := e.tick(t, p); s.Attempts != 0 {
			t.Fatalf("retry %d: attempted %v early", i+1, time.Second)
		}
		e.clock.Advance(time.Second)
		want = append(want, e.clock.Now())
		e.tick(t, p)
	}
	calls := rcv.Calls()
	var at []time.Time
	for _, c := range calls {
		at = append(at, c.timestamp(t))
		if c.header.Get("webhook-id") != calls[0].header.Get("webhook-id") {
			t.Error("webhook-id changed between attempts")
		}
	}
	if fmt.Sprint(at) != fmt.Sprint(want) {
		t.Errorf("attempts at\n %v\nwant\n %v", at, want)
	}
	if n := inQueue(t, e.tracking); n != 0 {
		t.Errorf("%d tracking messages left after delivery", n)
	}
	if dl := e.deadLetters(t); len(dl) != 0 {
		t.Errorf("dead letters: %+v", dl)
	}
}

// TestExhaustedDeadLetter: an always-failing receiver ends in the
// dead-letter queue with the event and its whole attempt history.
func TestExhaustedDeadLetter(t *testing.T) {
	e := newEnv(t, envOptions{})
	rcv := newReceiver(t, e, func(int) int { return http.StatusInternalServerError })
	id := e.createPool(t, clusterID(0), "p", 1)
	e.track(t, e.message(clusterID(0), "p", id, rcv.URL()))
	cfg := e.senderConfig()
	cfg.Retry.Schedule = callback.Schedule{5 * time.Second, time.Minute}
	p := e.poller(t, e.sender(t, cfg), nil)

	e.clock.Advance(time.Minute)
	var stats []Stats
	for _, d := range []time.Duration{0, 5 * time.Second, time.Minute} {
		e.clock.Advance(d)
		stats = append(stats, e.tick(t, p))
	}
	if len(rcv.Calls()) != 3 {
		t.Errorf("receiver got %d calls, want 3", len(rcv.Calls()))
	}
	if last := stats[2]; last.DeadLettered != 1 || last.Deleted != 1 {
		t.Errorf("last tick stats %+v: want 1 dead-lettered, 1 deleted", last)
	}
	dls := e.deadLetters(t)
	if len(dls) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dls))
	}
	dl := dls[0]
	if dl.Version != deadletter.Version || dl.Reason != callback.StateExhausted || dl.Delivery.Event.Type != callback.TypeActive ||
		dl.Delivery.URL != rcv.URL() || len(dl.Delivery.Attempts) != 3 {
		t.Fatalf("dead letter = %+v", dl)
	}
	for i, a := range dl.Delivery.Attempts {
		if a.Status != 500 || a.Outcome != callback.Retry {
			t.Errorf("attempt %d = %+v", i, a)
		}
	}
	if n := inQueue(t, e.tracking); n != 0 {
		t.Errorf("%d tracking messages left", n)
	}
}

// recordingDial dials loopback only and records every address asked for,
// so a test can prove that no other address is ever dialed.
type recordingDial struct {
	mu    sync.Mutex
	addrs []string
}

func (r *recordingDial) dial(ctx context.Context, network, address string) (net.Conn, error) {
	r.mu.Lock()
	r.addrs = append(r.addrs, address)
	r.mu.Unlock()
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !ap.Addr().IsLoopback() {
		return nil, fmt.Errorf("test dialer: refusing to dial %s", address)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}

// TestSSRF: callbacks to private, loopback, link-local and metadata
// addresses are refused, end to end, unless allowlisted — and refused ones
// are never dialed.
func TestSSRF(t *testing.T) {
	lo4 := newReceiver(t, &env{clock: newClock()}, nil) // clock irrelevant: only counted
	port := lo4.srv.Listener.Addr().(*net.TCPAddr).Port
	var lo6 *http.Server
	ln6, err := net.Listen("tcp", "[::1]:0")
	if err == nil {
		lo6 = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
		go lo6.Serve(ln6)
		t.Cleanup(func() { lo6.Close() })
	}
	urls := map[string]string{
		"loopback":  lo4.URL(),
		"private":   "http://10.0.0.1/hook",
		"linklocal": "http://169.254.169.254/latest/meta-data",
		"metadata":  "http://100.100.100.200/latest/meta-data",
		"hostname":  fmt.Sprintf("http://loopback.example.test:%d/hook", port),
	}
	if lo6 != nil {
		urls["ipv6"] = "http://" + ln6.Addr().String() + "/hook"
	} else {
		urls["ipv6"] = "http://[::1]:9/hook" // refused before dialing either way
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range urls {
			if !yield(k) {
				return
			}
		}
	})

	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprintf("allowlist=%v", allow), func(t *testing.T) {
			e := newEnv(t, envOptions{})
			e.trackAll(t, names, urls)
			cfg := e.senderConfig()
			cfg.Allow = nil
			if allow {
				cfg.Allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
			}
			rd := &recordingDial{}
			cfg.Dial = rd.dial
			cfg.Resolver = fakeResolver{"loopback.example.test": {netip.MustParseAddr("127.0.0.1")}}
			p := e.poller(t, e.sender(t, cfg), nil)
			e.clock.Advance(time.Minute)
			e.tick(t, p)

			refused := map[string]bool{}
			for _, dl := range e.deadLetters(t) {
				if dl.Reason != callback.StateRefused || len(dl.Delivery.Attempts) != 1 {
					t.Errorf("dead letter %+v", dl)
				}
				refused[dl.Delivery.Event.Data.Name] = true
			}
			wantRefused := map[string]bool{"private": true, "linklocal": true, "metadata": true}
			if !allow {
				wantRefused["loopback"], wantRefused["hostname"], wantRefused["ipv6"] = true, true, true
			}
			if fmt.Sprint(refused) != fmt.Sprint(wantRefused) {
				t.Errorf("refused %v, want %v", refused, wantRefused)
			}
			for _, a := range rd.addrs {
				if ap := netip.MustParseAddrPort(a); !ap.Addr().IsLoopback() {
					t.Errorf("dialed non-loopback %s", a)
				}
			}
			if !allow && len(rd.addrs) != 0 {
				t.Errorf("dialed %v without an allowlist", rd.addrs)
			}
		})
	}
	if n := len(lo4.Calls()); n != 2 { // loopback and hostname, allowlisted run only
		t.Errorf("loopback receiver got %d calls, want 2", n)
	}
}

// trackAll creates one active pool per name, tracked with urls[name].
func (e *env) trackAll(t *testing.T, names []string, urls map[string]string) {
	for _, n := range names {
		id := e.createPool(t, clusterID(0), n, 1)
		e.track(t, e.message(clusterID(0), n, id, urls[n]))
	}
}

// TestENSCallsPerTick: one tick reads each cluster once, page by page:
// Describe calls == Σ ceil(pools per cluster / PageSize), however the
// messages are spread over receive batches.
func TestENSCallsPerTick(t *testing.T) {
	pools := []int{120, 50, 1}
	for _, size := range []int{50, 7} {
		t.Run(fmt.Sprintf("PageSize=%d", size), func(t *testing.T) {
			e := newEnv(t, envOptions{clusters: len(pools), pageSize: size})
			want := int64(0)
			for ci, n := range pools {
				var batch []tracking.Message
				for i := range n {
					name := fmt.Sprintf("p%03d", i)
					id := e.createPool(t, clusterID(ci), name, 1)
					batch = append(batch, e.message(clusterID(ci), name, id, ""))
				}
				e.track(t, batch...)
				want += int64((n + size - 1) / size)
			}
			// Terminal messages need no ENS call.
			term := e.message(clusterID(0), "done", "np-done", "")
			term.Terminal = true
			e.track(t, term)

			before := e.ens.Stats().Calls["DescribeClusterNodePools"]
			p := e.poller(t, e.sender(t, e.senderConfig()), func(c *Config) { c.BatchSize = 5 })
			e.clock.Advance(5 * time.Second) // still provisioning: checks, no events
			s := e.tick(t, p)
			got := e.ens.Stats().Calls["DescribeClusterNodePools"] - before
			t.Logf("pools %v, PageSize %d: %d Describe calls (lower bound %d), stats %+v", pools, size, got, want, s)
			if got != want {
				t.Errorf("Describe calls = %d, want Σ ceil(pools/PageSize) = %d", got, want)
			}
			if s.Checked != 171 || s.Clusters != 3 || s.Replaced != 171 || s.Deleted != 1 {
				t.Errorf("stats %+v: want 171 checked and replaced, 3 clusters, 1 deleted", s)
			}
		})
	}
}

// TestClusterErrors: a cluster that cannot be read produces no event and
// its pools are checked again later; a cluster that does not exist fails
// its pools.
func TestClusterErrors(t *testing.T) {
	e := newEnv(t, envOptions{ensAttempts: 2})
	rcv := newReceiver(t, e, nil)
	id := e.createPool(t, clusterID(0), "p", 1)
	e.track(t, e.message(clusterID(0), "p", id, rcv.URL()))
	if err := e.ens.InjectFault(enssim.Fault{Action: "DescribeClusterNodePools", Count: 2, Code: "ServiceUnavailable", Status: 503}); err != nil {
		t.Fatal(err)
	}
	p := e.poller(t, e.sender(t, e.senderConfig()), nil)
	e.clock.Advance(time.Minute)
	s := e.tick(t, p)
	if s.ClusterErrors != 1 || s.Hidden != 1 || len(rcv.Calls()) != 0 {
		t.Fatalf("stats %+v, calls %d: want one cluster error, the message hidden, no event", s, len(rcv.Calls()))
	}
	// Not visible again before ErrorRetry.
	e.clock.Advance(20 * time.Second)
	if s := e.tick(t, p); s.Received != 0 {
		t.Errorf("received %d messages before ErrorRetry", s.Received)
	}
	e.track(t, e.message("eck-missing", "q", "np-q", rcv.URL()))
	e.clock.Advance(10 * time.Second)
	s = e.tick(t, p)
	if s.Events[callback.TypeActive] != 1 || s.Events[callback.TypeFailed] != 1 {
		t.Errorf("after the fault: stats %+v, want an active and a failed event", s)
	}
	codes := map[string]string{}
	for _, c := range rcv.Calls() {
		codes[c.event.Data.Name] = c.event.Type
		if c.event.Data.Error != nil {
			codes[c.event.Data.Name] += "/" + c.event.Data.Error.Code
		}
	}
	want := map[string]string{"p": callback.TypeActive, "q": callback.TypeFailed + "/" + CodeClusterNotFound}
	if fmt.Sprint(codes) != fmt.Sprint(want) {
		t.Errorf("events %v, want %v", codes, want)
	}
}

// TestInvalidMessage: an unreadable tracking message is dead-lettered
// with the reason and removed from the tracking queue; a password member in
// it is masked by structure, and a body that is not JSON is not kept.
func TestInvalidMessage(t *testing.T) {
	e := newEnv(t, envOptions{})
	const pw = "Zq8-tracking-pw"
	bodies := []string{
		`{"Version":1,"RequestId":"r"}`,
		`{"Version":1,"RequestId":"r","X":[[{"Pass\u0077ord":"` + pw + `"}]]}`,
		`Password=` + pw,
	}
	for _, b := range bodies {
		if _, err := e.tracking.Send(context.Background(), b, 0); err != nil {
			t.Fatal(err)
		}
	}
	p := e.poller(t, e.sender(t, e.senderConfig()), nil)
	if s := e.tick(t, p); s.Invalid != 3 {
		t.Errorf("stats %+v, want 3 invalid", s)
	}
	dls := drain(t, e.dlq)
	if len(dls) != 3 {
		t.Fatalf("%d dead letters, want 3", len(dls))
	}
	want := map[int]string{len(bodies[0]): bodies[0], len(bodies[1]): `{"Version":1,"RequestId":"r","X":[[{"Password":"******"}]]}`, len(bodies[2]): ""}
	for _, d := range dls {
		if strings.Contains(d, pw) {
			t.Errorf("dead letter keeps the password: %s", d)
		}
		var rec deadletter.TrackingRecord
		if err := json.Unmarshal([]byte(d), &rec); err != nil {
			t.Fatal(err)
		}
		body, ok := want[rec.BodySize]
		if !ok || rec.Reason != deadletter.ReasonInvalid || rec.Body != body || rec.BodyWithheld != (body == "") || rec.Error == "" {
			t.Errorf("record = %+v", rec)
		}
	}
	if n := inQueue(t, e.tracking); n != 0 {
		t.Errorf("%d tracking messages left", n)
	}
}

// TestBudget: a tick whose context has less time than Reserve receives nothing.
func TestBudget(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.track(t, e.message(clusterID(0), "p", "np-p", ""))
	p := e.poller(t, e.sender(t, e.senderConfig()), func(c *Config) { c.Reserve = time.Minute })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := p.Tick(ctx)
	if err != nil || !s.OutOfBudget || s.Received != 0 {
		t.Errorf("Tick = %+v, %v; want out of budget before receiving", s, err)
	}
}

func TestConfig(t *testing.T) {
	e := newEnv(t, envOptions{})
	s := e.sender(t, e.senderConfig())
	ok := Config{Tracking: e.tracking, DeadLetter: e.dlq, Pools: e.ensc, Deliverer: s}
	tests := []struct {
		name string
		edit func(c *Config)
	}{
		{"no tracking", func(c *Config) { c.Tracking = nil }},
		{"no deliverer", func(c *Config) { c.Deliverer = nil }},
		{"batch too big", func(c *Config) { c.BatchSize = 17 }},
		{"wait too long", func(c *Config) { c.ReceiveWait = time.Minute }},
		{"negative reserve", func(c *Config) { c.Reserve = -time.Second }},
	}
	if _, err := New(ok); err != nil {
		t.Fatalf("New(valid) = %v", err)
	}
	for _, tt := range tests {
		c := ok
		tt.edit(&c)
		if _, err := New(c); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: New = %v, want ErrConfig", tt.name, err)
		}
	}
}

// poolsHook runs after each DescribeClusterNodePools call of the wrapped
// PoolReader (once per call, in the poller's goroutine).
type poolsHook struct {
	nodepool.PoolReader
	calls atomic.Int32
	after func(n int32)
}

func (h *poolsHook) DescribeClusterNodePools(ctx context.Context, clusterID string) ([]ens.NodePool, error) {
	ps, err := h.PoolReader.DescribeClusterNodePools(ctx, clusterID)
	h.after(h.calls.Add(1))
	return ps, err
}

// TestPoolCreatedDuringATick: a pool created (and its tracking message
// sent) after the tick read its cluster must not be judged against that
// older list — it would look missing, and two such misses used to report
// a provisioning pool as vanished. The poller reads the cluster again.
func TestPoolCreatedDuringATick(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := clusterID(0)
	if err := e.ens.SetProvisionTime(10 * time.Minute); err != nil {
		t.Fatal(err)
	}
	first := e.createPool(t, c, "first", 2)
	m := e.message(c, "first", first, "")
	e.track(t, m)
	e.clock.Advance(30 * time.Second)

	hook := &poolsHook{PoolReader: e.ensc}
	hook.after = func(n int32) {
		if n != 1 {
			return
		}
		// The worker creates another pool right after the poller's read,
		// and its tracking message (LastState "initial", as the worker
		// writes it) is due at once, within the same tick.
		e.clock.Advance(time.Second)
		second := e.createPool(t, c, "second", 2)
		m2 := e.message(c, "second", second, "")
		m2.LastState = "initial"
		e.track(t, m2)
	}
	p := e.poller(t, e.sender(t, e.senderConfig()), func(cfg *Config) { cfg.Pools = hook })
	s := e.tick(t, p)
	if s.Checked != 2 || len(s.Events) != 0 {
		t.Fatalf("stats = %+v; want both pools checked and no event", s)
	}
	if got := hook.calls.Load(); got != 2 {
		t.Errorf("DescribeClusterNodePools calls = %d, want 2 (the second pool needs a newer read)", got)
	}
	for _, m := range e.trackedBodies(t) {
		if m.Missing != 0 || m.LastState != "initial" || m.CheckedAt.IsZero() {
			t.Errorf("%s: Missing %d, LastState %q, CheckedAt %v; want it seen in a read begun after its creation",
				m.Name, m.Missing, m.LastState, m.CheckedAt)
		}
	}
}
