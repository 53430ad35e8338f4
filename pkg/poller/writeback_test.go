package poller

import (
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/dev/mnssim"
)

// TestWriteBackRidesOutABriefOutage: a write-back whose requests fail as a
// whole (the queue service restarting: two InternalError answers) is
// retried by the queue itself (mns.Config.SendRetry), so the message is
// replaced now rather than after its visibility timeout.
func TestWriteBackRidesOutABriefOutage(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := clusterID(0)
	if err := e.ens.SetProvisionTime(10 * time.Minute); err != nil {
		t.Fatal(err)
	}
	id := e.createPool(t, c, "slow", 2)
	e.track(t, e.message(c, "slow", id, ""))
	e.clock.Advance(30 * time.Second)

	if err := e.mns.InjectSendFault(mnssim.SendFault{Queue: "tracking", Count: 2}); err != nil {
		t.Fatal(err)
	}
	p := e.poller(t, e.sender(t, e.senderConfig()), nil)
	s := e.tick(t, p)
	if s.Replaced != 1 || s.WriteErrors != 0 {
		t.Fatalf("stats = %+v; want the message replaced after the outage, no write error", s)
	}
}
