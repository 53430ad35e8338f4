package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/deadletter"
	"github.com/ensnodepool/webhook/pkg/dev/localstack"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
)

// hangingURL is the base URL of a receiver that accepts connections and
// never answers (a firewalled endpoint).
func hangingURL(t testing.TB) string {
	u, _ := testkit.HangingHost(t)
	return u
}

// hangingInterval is the timer period of the hanging-receivers scenario:
// the "1 interval" of its latency bound.
const hangingInterval = 2 * time.Second

// hangingEnv is a stack for the hanging-receivers scenario: a 2 s timer,
// and callback settings shortened so that the hanging receivers' events
// reach the end of their schedule within the test (2 s per attempt, one
// retry after 1 s, 16 attempts in flight per host).
func hangingEnv(t *testing.T, seed uint64) *env {
	return newEnv(t, envOpts{seed: seed, mutate: func(c *localstack.Config) {
		c.PollInterval = hangingInterval
		c.Env = map[string]string{config.EnvCallbackTimeout: "2s", config.EnvCallbackRetry: "1s", config.EnvCallbackPerHost: "16"}
	}})
}

// ordinary submits n requests to the ordinary receiver, 500 ms apart, and
// returns each one's time from submission to its active callback.
func (e *env) ordinary(prefix string, n int, want expectation) []time.Duration {
	e.t.Helper()
	sent := map[string]time.Time{}
	for i := range n {
		name := fmt.Sprintf("%s-%d", prefix, i)
		at := time.Now()
		id := e.submit(name, e.request(name, e.rcv.url+"/ok"))
		want[id], sent[id] = callback.TypeActive, at
		time.Sleep(500 * time.Millisecond)
	}
	testkit.Eventually(60*time.Second, func() bool {
		for id := range sent {
			if e.rcv.firstAt(id, callback.TypeActive).IsZero() {
				return false
			}
		}
		return true
	})
	var lat []time.Duration
	for id, at := range sent {
		if got := e.rcv.firstAt(id, callback.TypeActive); !got.IsZero() {
			lat = append(lat, got.Sub(at))
		}
	}
	slices.Sort(lat)
	return lat
}

// 5. Receivers: many callback URLs that accept the connection and never
// answer, then ordinary requests. The ordinary requests' active callbacks
// must arrive as fast as in the same run without the hanging receivers
// (within 10 % + 1 timer interval), and every event of the hanging ones
// must still go through its schedule and reach the dead-letter queue.
func testHangingReceivers(t *testing.T) {
	t.Parallel()
	n, ordinaryN := 40, 5
	if full() {
		n = 300
	}
	// The same run without the hanging receivers.
	base := hangingEnv(t, 11)
	baseLat := base.ordinary("base", ordinaryN, expectation{})

	e := hangingEnv(t, 12)
	hang := hangingURL(t) + "/hang"
	want := expectation{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range n {
		name := fmt.Sprintf("hang-%d", i)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			id := e.submit(name, e.request(name, hang))
			mu.Lock()
			want[id] = "" // no terminal event can be delivered
			mu.Unlock()
		}()
	}
	wg.Wait()
	// Ordinary requests once the hanging ones are created (the worker's
	// 10 creates/s is the same for everybody) and their callbacks hang.
	testkit.Eventually(3*time.Minute, func() bool { return e.ens.Stats().Pools >= n })
	lat := e.ordinary("ord", ordinaryN, want)

	// Every hanging event (creating and active per request) ends on the
	// dead-letter queue after its attempts.
	dlq := e.queueClient().Queue(config.DefaultDeadLetterQueue)
	testkit.Eventually(8*time.Minute, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a, err := dlq.Attributes(ctx)
		return err == nil && a.Active >= int64(2*n)
	})
	bound := func(d time.Duration) time.Duration { return d + d/10 + hangingInterval }
	note := fmt.Sprintf("ordinary submit → active: p50 %.1f s, max %.1f s (without the hanging receivers: p50 %.1f s, max %.1f s)",
		pct(lat, 50).Seconds(), pct(lat, 100).Seconds(), pct(baseLat, 50).Seconds(), pct(baseLat, 100).Seconds())
	r := e.settle(fmt.Sprintf("Receivers: %d hanging (connection accepted, never answered), then %d ordinary", n, ordinaryN),
		want, 60*time.Second, note)
	t.Log(note)
	if len(lat) != ordinaryN || len(baseLat) != ordinaryN {
		t.Fatalf("ordinary latencies %v, baseline %v: some never arrived", lat, baseLat)
	}
	if pct(lat, 100) > bound(pct(baseLat, 100)) {
		t.Errorf("ordinary requests took up to %v with hanging receivers, %v without: more than 10 %% + 1 interval", pct(lat, 100), pct(baseLat, 100))
	}
	// None lost: one exhausted record per hanging event, each with every
	// attempt of the (shortened) schedule.
	seen := map[string]bool{}
	for _, m := range e.dead {
		var dl deadletter.CallbackRecord
		if err := json.Unmarshal([]byte(m.Body), &dl); err != nil || dl.Kind != deadletter.KindCallback {
			t.Errorf("dead letter %q: %v", m.Body, err)
			continue
		}
		if dl.Reason != callback.StateExhausted || len(dl.Delivery.Attempts) != 2 {
			t.Errorf("dead letter %s: reason %s after %d attempts, want exhausted after 2", dl.Delivery.MessageID, dl.Reason, len(dl.Delivery.Attempts))
		}
		seen[dl.Delivery.Event.Data.RequestId+" "+dl.Delivery.Event.Type] = true
	}
	for id, typ := range want {
		if typ != "" {
			continue
		}
		for _, ev := range []string{callback.TypeCreating, callback.TypeActive} {
			if !seen[id+" "+ev] {
				t.Errorf("request %s: %s not dead-lettered", id, ev)
			}
		}
	}
	if r.DLQ != 2*n {
		t.Errorf("%d dead letters, want %d", r.DLQ, 2*n)
	}
}

// pct returns the p-th percentile (nearest rank) of sorted ds.
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := (len(ds)*p + 99) / 100
	return ds[min(max(i-1, 0), len(ds)-1)]
}
