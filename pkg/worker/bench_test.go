package worker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/worker"
)

// BenchmarkQueuedRequests puts 200 requests across 3 clusters on the
// requests queue and works them in trigger-sized batches of 16, one batch
// at a time (reservedConcurrency 1), against an ENS service that enforces
// the real limit of 10 creates/s. It reports creates/s, the throttled
// answers the service counted, and describe calls per batch. One iteration
// takes about 20 s:
//
//	go test -run '^$' -bench QueuedRequests -benchtime 1x ./pkg/worker/
func BenchmarkQueuedRequests(b *testing.B) {
	const n, batchSize = 200, 16
	for range b.N {
		b.StopTimer()
		bb := setup(b, options{writeRate: 10, provision: time.Minute,
			workerConfig: func(c *worker.Config) { c.Logger = nil }})
		var bodies []string
		for i := range n {
			bodies = append(bodies, bb.envelope(b, bb.request(i%3, fmt.Sprintf("bench-%03d", i)), fmt.Sprintf("req_bench%03d", i), time.Now()))
		}
		bb.enqueue(b, bodies...)
		b.StartTimer()

		start := time.Now()
		batches, describes, maxDescribes, created := 0, int64(0), int64(0), 0
		for created < n {
			msgs := bb.pull(b, bb.requests, batchSize, 0)
			if len(msgs) == 0 {
				b.Fatalf("queue empty after %d created", created)
			}
			pages := map[string]int64{} // pages per cluster before the batch
			for _, cl := range testClusters() {
				pages[cl.ClusterId] = max(1, int64(len(bb.ens.Pools(cl.ClusterId))+49)/50)
			}
			before := bb.ens.Stats().Calls["DescribeClusterNodePools"]
			res, err := bb.w.HandleBatch(context.Background(), batch(msgs))
			if err != nil {
				b.Fatal(err)
			}
			d := bb.ens.Stats().Calls["DescribeClusterNodePools"] - before
			allowed, seen := int64(0), map[string]bool{}
			for _, it := range res.Items {
				if !seen[it.ClusterId] {
					seen[it.ClusterId] = true
					allowed += pages[it.ClusterId]
				}
			}
			if d > allowed {
				b.Errorf("batch %d: %d describe calls, allowed clusters × pages = %d", batches, d, allowed)
			}
			describes += d
			maxDescribes = max(maxDescribes, d)
			batches++
			created += res.Count(worker.Created)
			if f := res.Count(worker.Failed) + res.Count(worker.Requeued); f > 0 {
				b.Fatalf("batch %d: %d failed or re-queued: %v", batches, f, res.Items)
			}
		}
		el := time.Since(start)
		b.StopTimer()

		st := bb.ens.Stats()
		if st.Pools != n || len(st.Creates) != n {
			b.Fatalf("pools = %d, names = %d, want %d", st.Pools, len(st.Creates), n)
		}
		for _, c := range st.Creates {
			if c.Count != 1 {
				b.Fatalf("%s/%s created %d times", c.ClusterId, c.Name, c.Count)
			}
		}
		if st.Throttled != 0 {
			b.Errorf("ENS service throttled %d calls", st.Throttled)
		}
		b.ReportMetric(float64(n)/el.Seconds(), "creates/s")
		b.ReportMetric(float64(st.Throttled), "throttled")
		b.ReportMetric(float64(describes)/float64(batches), "describes/batch")
		b.ReportMetric(float64(maxDescribes), "max-describes/batch")
		b.ReportMetric(float64(st.MaxPerSecond["CreateClusterNodePool"]), "max-creates-in-1s")
		b.ReportMetric(float64(batches), "batches")
	}
}
