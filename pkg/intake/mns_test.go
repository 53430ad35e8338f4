package intake

import (
	"context"
	"sort"
	"sync"
	"testing"

	"github.com/ensnodepool/webhook/pkg/dev/mnssim"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
	"github.com/ensnodepool/webhook/pkg/mns"
)

// Every handler test reads its envelopes back through the real queue
// client and the MNS-compatible service, not an in-memory fake: what the
// tests see is what the worker will receive.
func init() { newQueue = newMNSQueue }

// mnsQueue is a queueHarness over pkg/mns and an in-process pkg/dev/mnssim.
type mnsQueue struct {
	q, missing *mns.Queue

	mu       sync.Mutex
	fail     bool
	received []mns.Message
}

func newMNSQueue(tb testing.TB) queueHarness {
	tb.Helper()
	const ak, sk = "intake-ak", "intake-sk"
	m := testkit.StartMNS(tb, mnssim.Config{AccessKeyID: ak, AccessKeySecret: sk})
	q := m.EnsureQueues(tb, mns.QueueAttributes{}, "requests")[0]
	// Fail(true) sends to a queue that does not exist: a real MNS error.
	return &mnsQueue{q: q, missing: m.Client.Queue("no-such-queue")}
}

func (m *mnsQueue) Send(ctx context.Context, body string) (string, error) {
	m.mu.Lock()
	q := m.q
	if m.fail {
		q = m.missing
	}
	m.mu.Unlock()
	res, err := q.Send(ctx, body, 0)
	return res.MessageID, err
}

// Received drains the queue and returns every body received so far, in
// enqueue order.
func (m *mnsQueue) Received(tb testing.TB) []string {
	tb.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for {
		msgs, err := m.q.Receive(context.Background(), 16, 0) // queue default: no long poll
		if err != nil {
			tb.Fatalf("receive: %v", err)
		}
		if len(msgs) == 0 {
			break
		}
		for _, msg := range msgs {
			if err := m.q.Delete(context.Background(), msg.ReceiptHandle); err != nil {
				tb.Fatalf("delete: %v", err)
			}
		}
		m.received = append(m.received, msgs...)
	}
	sort.SliceStable(m.received, func(i, j int) bool { return m.received[i].EnqueueTime.Before(m.received[j].EnqueueTime) })
	out := make([]string, len(m.received))
	for i, msg := range m.received {
		out[i] = msg.Body
	}
	return out
}

func (m *mnsQueue) Fail(b bool) { m.mu.Lock(); m.fail = b; m.mu.Unlock() }
