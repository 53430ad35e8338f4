package worker

import (
	"time"

	"github.com/ensnodepool/webhook/pkg/deadletter"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// newDeadLetter is the dead-letter record of it (deadletter.RequestRecord):
// body redacted and bounded, or, when it is not JSON, withheld and sealed
// with s if s is not nil.
func newDeadLetter(code, reason string, it *item, body string, at time.Time, s *nodepool.Sealer) deadletter.RequestRecord {
	return deadletter.NewRequestRecord(deadletter.RequestRecord{Reason: reason, Code: code, MessageID: it.msg.MessageID,
		RequestId: it.out.RequestId, ClusterId: it.out.ClusterId, Name: it.out.Name, At: at}, body, s)
}
