package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/dev/enssim"
	"github.com/ensnodepool/webhook/pkg/nodepool"
	"github.com/ensnodepool/webhook/pkg/worker"
)

// TestChatCallbackFormatReachesTracking: a ChatOps envelope's callback
// format and expiry travel into the tracking message and its deliveries,
// for a created pool and for a failed one.
func TestChatCallbackFormatReachesTracking(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	w := b.withWorker(t, func(c *worker.Config) { c.Deliverer = nil }) // leave every delivery to the poller
	if err := b.ens.InjectFault(enssim.Fault{Action: "CreateClusterNodePool", Count: 1, Code: "InvalidParameter"}); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(30 * time.Minute).UTC().Truncate(time.Second)
	var bodies []string
	for _, name := range []string{"chat1", "chat2"} {
		r := b.request(0, name)
		r.Callback = &nodepool.Callback{Url: b.recv.URL(), Format: "slack", ExpiresAt: exp}
		bodies = append(bodies, b.envelope(t, r, "req_"+name, time.Now()))
	}
	b.enqueue(t, bodies...)
	if _, err := w.HandleBatch(context.Background(), batch(b.pull(t, b.requests, 16, 0))); err != nil {
		t.Fatal(err)
	}
	tms := b.trackingMessages(t)
	if len(tms) != 2 {
		t.Fatalf("tracking messages = %d, want 2", len(tms))
	}
	terminal := 0
	for _, tm := range tms {
		if tm.Terminal {
			terminal++
		}
		if tm.CallbackFormat != "slack" || !tm.CallbackExpiresAt.Equal(exp) {
			t.Errorf("%s: CallbackFormat=%q CallbackExpiresAt=%v", tm.Name, tm.CallbackFormat, tm.CallbackExpiresAt)
		}
		if len(tm.Deliveries) != 1 || tm.Deliveries[0].Format != "slack" || !tm.Deliveries[0].ExpiresAt.Equal(exp) {
			t.Errorf("%s: deliveries %+v", tm.Name, tm.Deliveries)
		}
	}
	if terminal != 1 {
		t.Errorf("terminal messages = %d, want 1 (the failed create)", terminal)
	}
}
