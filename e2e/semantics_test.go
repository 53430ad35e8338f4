package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/deadletter"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
)

// hit is one request a scriptedReceiver got.
type hit struct {
	header http.Header
	body   []byte
	event  callback.Event
	status int
	at     time.Time
}

// scriptedReceiver answers the n-th callback (from 1) with status(n) and
// records every request, for tests of delivery semantics.
type scriptedReceiver struct {
	srv    *httptest.Server
	status func(n int) int
	mu     sync.Mutex
	hits   []hit
}

func newScriptedReceiver(t *testing.T, status func(n int) int) *scriptedReceiver {
	r := &scriptedReceiver{status: status}
	r.srv = testkit.CallbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		ev, _ := callback.ParseEvent(body)
		r.mu.Lock()
		n := len(r.hits) + 1
		code := r.status(n)
		r.hits = append(r.hits, hit{header: req.Header.Clone(), body: body, event: ev, status: code, at: time.Now()})
		r.mu.Unlock()
		w.WriteHeader(code)
	}))
	return r
}

func (r *scriptedReceiver) Hits() []hit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hit(nil), r.hits...)
}

// delivered lists the event types answered 2xx, in arrival order.
func (r *scriptedReceiver) delivered() []string {
	var out []string
	for _, h := range r.Hits() {
		if h.status < 300 {
			out = append(out, h.event.Type)
		}
	}
	return out
}

func ok(int) int { return http.StatusNoContent }

// TestE2ECallbackSecretRotation: with CALLBACK_SECRET=new,old every
// callback verifies with the standard-webhooks Go library holding either
// secret alone, and not with a third.
func TestE2ECallbackSecretRotation(t *testing.T) {
	t.Parallel()
	out := &testkit.SyncBuffer{}
	testkit.DumpOnFailure(t, out)
	sec := testkit.NewSecrets(t)
	old, stranger := testkit.NewSecrets(t).Callback, testkit.NewSecrets(t).Callback
	cfg := testConfig(t.TempDir(), sec, out)
	cfg.CallbackSecrets = []string{sec.Callback, old}
	st := testkit.Start(t, cfg)
	rcv := newScriptedReceiver(t, ok)
	submit(t, st, sec, "rotation", rcv.srv.URL+"/cb")
	testkit.WaitFor(t, 40*time.Second, "creating and active", func() bool { return len(rcv.delivered()) >= 2 })

	verifier := func(secret string) *standardwebhooks.Webhook {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		return wh
	}
	for _, h := range rcv.Hits() {
		for _, s := range []struct {
			name   string
			secret string
			want   bool
		}{{"new", sec.Callback, true}, {"old", old, true}, {"unrelated", stranger, false}} {
			// The library checks the timestamp against its own clock:
			// verify right away, within its 5-minute tolerance.
			err := verifier(s.secret).Verify(h.body, h.header)
			if (err == nil) != s.want {
				t.Errorf("%s verified with the %s secret: %v, want ok=%v (signature %q)", h.event.Type, s.name, err, s.want, h.header.Get("webhook-signature"))
			}
		}
	}
}

// TestE2EGoneStopsLaterEvents: a receiver that answers 410 to creating
// (from the worker) gets nothing more of that request: the poller's
// active goes to the dead-letter queue as gone, unsent.
func TestE2EGoneStopsLaterEvents(t *testing.T) {
	t.Parallel()
	_, sec, cfg := newE2E(t)
	st := testkit.Start(t, cfg)
	rcv := newScriptedReceiver(t, func(int) int { return http.StatusGone })
	submit(t, st, sec, "gone", rcv.srv.URL+"/cb")

	dlq := st.Queue(config.DefaultDeadLetterQueue)
	var letters []deadletter.CallbackRecord
	testkit.WaitFor(t, 40*time.Second, "two dead letters", func() bool {
		msgs, err := dlq.Receive(context.Background(), 16, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			var dl deadletter.CallbackRecord
			if err := json.Unmarshal([]byte(m.Body), &dl); err != nil {
				t.Fatalf("dead letter %s: %v", m.Body, err)
			}
			letters = append(letters, dl)
		}
		return len(letters) >= 2
	})
	time.Sleep(time.Second) // a wrongly sent event would arrive about now
	if hits := rcv.Hits(); len(hits) != 1 || hits[0].event.Type != callback.TypeCreating {
		t.Fatalf("receiver got %d requests, want only creating (answered 410)", len(hits))
	}
	types := map[string]int{}
	for _, dl := range letters {
		if dl.Reason != callback.StateGone {
			t.Errorf("dead letter %s: reason %s, want gone", dl.Delivery.Event.Type, dl.Reason)
		}
		types[dl.Delivery.Event.Type] = len(dl.Delivery.Attempts)
	}
	if len(types) != 2 || types[callback.TypeCreating] != 1 || types[callback.TypeActive] != 0 {
		t.Errorf("dead letters (type → attempts) %v, want creating 1, active 0", types)
	}
}

// TestE2ELateActiveAfterTimeout: a pool that is not active by
// POOL_DEADLINE gets nodepool.timeout, which says it is still watched; when
// it becomes active later, nodepool.active follows (Sequence 1, 2, 3).
func TestE2ELateActiveAfterTimeout(t *testing.T) {
	t.Parallel()
	_, sec, cfg := newE2E(t)
	cfg.PoolDeadline, cfg.ENSProvision = 2*time.Second, 6*time.Second
	cfg.Env = map[string]string{config.EnvPoolLateWatch: "1m"}
	st := testkit.Start(t, cfg)
	rcv := newScriptedReceiver(t, ok)
	id := submit(t, st, sec, "late", rcv.srv.URL+"/cb")
	testkit.WaitFor(t, 40*time.Second, "three events", func() bool { return len(rcv.delivered()) >= 3 })

	hits := rcv.Hits()
	want := []string{callback.TypeCreating, callback.TypeTimeout, callback.TypeActive}
	if got := rcv.delivered(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	for i, h := range hits {
		if d := h.event.Data; d.RequestId != id || d.Sequence != i+1 {
			t.Errorf("%s: RequestId %s Sequence %d, want %s and %d", h.event.Type, d.RequestId, d.Sequence, id, i+1)
		}
	}
	to := hits[1].event.Data
	if to.Error == nil || to.Error.Code != "NodepoolTimeout" || !strings.Contains(to.Error.Message, "still watched until") ||
		to.WatchUntil == nil || to.WatchUntil.Sub(hits[1].event.Timestamp) != time.Minute {
		t.Errorf("timeout data %+v (error %+v), want NodepoolTimeout watched for 1m", to, to.Error)
	}
	if st := hits[2].event.Data.Status; st == nil || st.State != "active" {
		t.Errorf("late active status %+v", st)
	}
}

// TestE2EStaleCreatingNotDeliveredAfterActive: the worker's creating
// attempt fails (503) and is due again 5 s later; the pool is active and
// its callback delivered before that, so the retried creating is dropped,
// never delivered after active. Events carry their Sequence.
func TestE2EStaleCreatingNotDeliveredAfterActive(t *testing.T) {
	t.Parallel()
	_, sec, cfg := newE2E(t)
	st := testkit.Start(t, cfg)
	rcv := newScriptedReceiver(t, func(n int) int {
		if n == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	submit(t, st, sec, "ordered", rcv.srv.URL+"/cb")
	testkit.WaitFor(t, 40*time.Second, "active", func() bool { return len(rcv.delivered()) >= 1 })
	activeAt := rcv.Hits()[1].at
	// The creating retry was due 5 s after the first attempt; wait past it
	// and a few poller ticks.
	time.Sleep(time.Until(rcv.Hits()[0].at.Add(7 * time.Second)))

	hits := rcv.Hits()
	var types []string
	for _, h := range hits {
		types = append(types, h.event.Type)
	}
	if strings.Join(types, " ") != "nodepool.creating nodepool.active" {
		t.Fatalf("receiver got %v, want the failed creating, then active, and no creating after it", types)
	}
	if hits[0].event.Data.Sequence != 1 || hits[1].event.Data.Sequence != 2 {
		t.Errorf("Sequence %d, %d; want 1, 2", hits[0].event.Data.Sequence, hits[1].event.Data.Sequence)
	}
	if d := activeAt.Sub(hits[0].at); d > 5*time.Second {
		t.Errorf("active came %v after creating: the test needs it before the 5 s retry", d)
	}
}
