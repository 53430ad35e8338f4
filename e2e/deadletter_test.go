package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/deadletter"
	"github.com/ensnodepool/webhook/pkg/dev/enssim"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
)

// TestE2EDeadLetterRedrive: a receiver that answers 410 sends both
// callbacks of a request to the dead-letter queue (seen through the MNS
// inspection API); once it is back, redrive delivers them again through
// the real poller, under their original webhook-ids, and every queue ends
// empty.
func TestE2EDeadLetterRedrive(t *testing.T) {
	heavy(t)
	t.Parallel()
	_, sec, cfg := newE2E(t)
	st := testkit.Start(t, cfg)
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var gone atomic.Bool
	gone.Store(true)
	var mu sync.Mutex
	delivered := map[string]string{} // webhook-id → event type, 2xx answers only
	rcv := testkit.CallbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if gone.Load() {
			w.WriteHeader(http.StatusGone)
			return
		}
		ev, _ := callback.ParseEvent(b)
		mu.Lock()
		delivered[r.Header.Get("webhook-id")] = ev.Type
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()

	requestID := submit(t, st, sec, "dl-redrive", rcv.URL+"/cb")

	cfg = st.Config()
	in := inspector(st)
	testkit.WaitFor(t, 45*time.Second, "two dead-lettered callbacks", func() bool {
		q, err := in.Queue(ctx, cfg.DeadLetterQueue)
		return err == nil && q.Total == 2
	})
	peeked, err := in.Peek(ctx, cfg.DeadLetterQueue)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range peeked {
		if !strings.Contains(m.Body, `"Kind":"callback"`) || !strings.Contains(m.Body, requestID) {
			t.Fatalf("dead letter %s", m.Body)
		}
	}

	tool := &deadletter.Tool{DeadLetter: st.Queue(cfg.DeadLetterQueue), Requests: st.Queue(cfg.RequestsQueue),
		Tracking: st.Queue(cfg.TrackingQueue), Hold: 30 * time.Second}
	l, err := tool.List(ctx, deadletter.Filter{RequestId: requestID})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{} // webhook-id → type, from the records
	for _, r := range l.Records {
		rec, err := tool.Show(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		var dl deadletter.CallbackRecord
		if err := json.Unmarshal([]byte(rec.Body), &dl); err != nil {
			t.Fatal(err)
		}
		want[dl.Delivery.MessageID] = dl.Delivery.Event.Type
	}
	if len(l.Groups) != 1 || l.Groups[0].Kind != deadletter.KindCallback || l.Groups[0].Cause != "gone" || l.Groups[0].Count != 2 ||
		len(want) != 2 {
		t.Fatalf("listing %+v, records %v", l.Groups, want)
	}

	gone.Store(false)
	testkit.WaitFor(t, 10*time.Second, "the dead letters visible again", func() bool {
		q, err := in.Queue(ctx, cfg.DeadLetterQueue)
		return err == nil && q.Visible == 2
	})
	acts, err := tool.Redrive(ctx, deadletter.Filter{Kind: deadletter.KindCallback}, false, nil)
	if err != nil || len(acts) != 2 || acts[0].Outcome != deadletter.Redriven || acts[1].Outcome != deadletter.Redriven {
		t.Fatalf("redrive %+v %v", acts, err)
	}
	testkit.WaitFor(t, 20*time.Second, "both callbacks delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(delivered) == 2
	})
	mu.Lock()
	for id, typ := range want {
		if delivered[id] != typ {
			t.Errorf("webhook-id %s: delivered %q, want %q (all: %v)", id, delivered[id], typ, delivered)
		}
	}
	mu.Unlock()
	testkit.WaitFor(t, 10*time.Second, "every queue empty", func() bool {
		qs, err := in.Queues(ctx)
		if err != nil {
			return false
		}
		for _, q := range qs {
			if q.Total != 0 {
				return false
			}
		}
		return len(qs) >= 3
	})
}

// TestE2EDeadLetterRequestRedrive: a create that ENS refuses permanently
// becomes a request dead letter (and a nodepool.failed callback); once the
// cause is gone, redrive puts the envelope back under its RequestId and
// the pool is created once, reported creating and active.
func TestE2EDeadLetterRequestRedrive(t *testing.T) {
	heavy(t)
	t.Parallel()
	_, sec, cfg := newE2E(t)
	st := testkit.Start(t, cfg)
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rcv := newReceiver(t, sec)
	if err := st.ENS().InjectFault(enssim.Fault{Action: "CreateClusterNodePool", Count: 1, Code: "InvalidParameter.Quota", Status: 400}); err != nil {
		t.Fatal(err)
	}
	requestID := submit(t, st, sec, "dl-request", rcv.URL())
	cfg = st.Config()
	in := inspector(st)
	testkit.WaitFor(t, 30*time.Second, "the request's dead letter", func() bool {
		q, err := in.Queue(ctx, cfg.DeadLetterQueue)
		return err == nil && q.Total == 1
	})

	tool := &deadletter.Tool{DeadLetter: st.Queue(cfg.DeadLetterQueue), Requests: st.Queue(cfg.RequestsQueue),
		Tracking: st.Queue(cfg.TrackingQueue)}
	acts, err := tool.Redrive(ctx, deadletter.Filter{Kind: deadletter.KindRequest, Cause: "InvalidParameter.Quota"}, false, nil)
	if err != nil || len(acts) != 1 || acts[0].Outcome != deadletter.Redriven || acts[0].Record.RequestId != requestID {
		t.Fatalf("redrive %+v %v", acts, err)
	}
	testkit.WaitFor(t, 30*time.Second, "nodepool.active after the redrive", func() bool {
		return len(testkit.ByName(rcv.Received())["dl-request"][callback.TypeActive]) == 1
	})
	g := testkit.ByName(rcv.Received())["dl-request"]
	if len(g[callback.TypeFailed]) != 1 || len(g[callback.TypeCreating]) != 1 {
		t.Errorf("callbacks %v, want failed (before the redrive), creating and active", g)
	}
	for _, c := range rcv.Received() {
		if c.Event.Data.RequestId != requestID {
			t.Errorf("callback %s under RequestId %s, want %s", c.Event.Type, c.Event.Data.RequestId, requestID)
		}
	}
	for _, c := range st.ENS().Stats().Creates {
		if c.Name == "dl-request" && c.Count != 1 {
			t.Errorf("%d creates of the pool", c.Count)
		}
	}
	if q, err := in.Queue(ctx, cfg.DeadLetterQueue); err != nil || q.Total != 0 {
		t.Errorf("dead letters left: %+v %v", q, err)
	}
}
