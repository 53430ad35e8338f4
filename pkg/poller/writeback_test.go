package poller

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/mns"
)

// flakyTracking fails its first n SendBatch calls as a whole, as when the
// queue service is restarting.
type flakyTracking struct {
	TrackingQueue
	n, calls atomic.Int32
}

func (f *flakyTracking) SendBatch(ctx context.Context, outs []mns.Outgoing) ([]mns.SendResult, error) {
	if f.calls.Add(1) <= f.n.Load() {
		return nil, &mns.Error{Op: "SendBatch", Queue: "tracking", Code: mns.ErrUnavailable, Err: errors.New("connection refused")}
	}
	return f.TrackingQueue.SendBatch(ctx, outs)
}

// TestWriteBackRidesOutABriefOutage: a write-back that fails as a whole is
// retried within WriteRetry, so the messages are replaced now rather than
// after their visibility timeout.
func TestWriteBackRidesOutABriefOutage(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := clusterID(0)
	if err := e.ens.SetProvisionTime(10 * time.Minute); err != nil {
		t.Fatal(err)
	}
	id := e.createPool(t, c, "slow", 2)
	e.track(t, e.message(c, "slow", id, ""))
	e.clock.Advance(30 * time.Second)

	flaky := &flakyTracking{TrackingQueue: e.tracking}
	flaky.n.Store(2)
	p := e.poller(t, e.sender(t, e.senderConfig()), func(cfg *Config) { cfg.Tracking, cfg.WriteRetry = flaky, 3*time.Second })
	s := e.tick(t, p)
	if s.Replaced != 1 || s.WriteErrors != 0 {
		t.Fatalf("stats = %+v; want the message replaced after the outage, no write error", s)
	}
	if got := flaky.calls.Load(); got != 3 {
		t.Errorf("SendBatch calls = %d, want 3 (two failures, then success)", got)
	}
}
