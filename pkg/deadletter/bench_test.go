package deadletter_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/deadletter"
	"github.com/ensnodepool/webhook/pkg/dev/mnssim"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
	"github.com/ensnodepool/webhook/pkg/mns"
)

// BenchmarkListRedrive measures list and redrive over 500 request records
// on the durable MNS simulator (records/s in the report).
func BenchmarkListRedrive(b *testing.B) {
	const n = 500
	m := testkit.StartMNS(b, mnssim.Config{AccessKeyID: testAK, AccessKeySecret: testSK, Dir: b.TempDir()})
	qs := m.EnsureQueues(b, mns.QueueAttributes{VisibilityTimeout: 30 * time.Second}, "dl", "reqs", "trk")
	tool := &deadletter.Tool{DeadLetter: qs[0], Requests: qs[1], Tracking: qs[2], Settle: -1}
	ctx := context.Background()
	records := make([]mns.Outgoing, n)
	for i := range records {
		rid := fmt.Sprintf("req_%04d", i)
		records[i] = mns.Outgoing{Body: requestRecord(b, rid, "eck-demo0001", rid, "InternalError", time.Now(),
			envelope(b, rid, "eck-demo0001", fmt.Sprintf("p%04d", i), ""))}
	}
	var list, redrive time.Duration
	for b.Loop() {
		if _, err := qs[0].SendBatch(ctx, records); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		tool.Hold = 30 * time.Second
		l, err := tool.List(ctx, deadletter.Filter{})
		if err != nil || len(l.Records) != n {
			b.Fatalf("list: %d %v", len(l.Records), err)
		}
		list += time.Since(start)
		time.Sleep(1100 * time.Millisecond) // the listed records become visible again
		start = time.Now()
		acts, err := tool.Redrive(ctx, deadletter.Filter{}, false, nil)
		if err != nil || len(acts) != n {
			b.Fatalf("redrive: %d %v", len(acts), err)
		}
		redrive += time.Since(start)
	}
	b.ReportMetric(float64(b.N*n)/list.Seconds(), "listed/s")
	b.ReportMetric(float64(b.N*n)/redrive.Seconds(), "redriven/s")
}
