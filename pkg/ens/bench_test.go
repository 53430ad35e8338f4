package ens_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/dev/enssim"
	"github.com/ensnodepool/webhook/pkg/ens"
)

// BenchmarkCreateRate measures creates/s through the client against the
// simulator's 10/s per-AccessKey limit, with 20 concurrent callers. One
// minute of load:
//
//	go test -run '^$' -bench CreateRate -benchtime 600x ./pkg/ens/
func BenchmarkCreateRate(b *testing.B) {
	tb := setupBench(b, enssim.Config{}, ens.Config{})
	var next atomic.Int64
	var wg sync.WaitGroup
	var errs atomic.Int64
	b.ResetTimer()
	start := time.Now()
	for w := range 20 {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				if _, err := tb.client.CreateClusterNodePool(b.Context(), createRequest(fmt.Sprintf("bench-%d-%d", w, i))); err != nil {
					errs.Add(1)
					b.Error(err)
				}
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	st := tb.sim.Stats()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(b.N)/el.Seconds(), "creates/s")
	b.ReportMetric(float64(st.Throttled), "throttled")
	b.ReportMetric(float64(st.MaxPerSecond["CreateClusterNodePool"]), "max/1s-window")
	b.ReportMetric(float64(tb.client.Stats().Retries), "retries")
	if st.Throttled != 0 {
		b.Errorf("server throttled %d creates, want 0", st.Throttled)
	}
}

// BenchmarkDescribePages measures DescribeClusterNodePools pages/s (50
// pools per page) within the client's 100/s describe limit, and without
// limits (the simulator's own throughput):
//
//	go test -run '^$' -bench DescribePages -benchtime 3000x ./pkg/ens/
func BenchmarkDescribePages(b *testing.B) {
	for _, tc := range []struct {
		name string
		rate float64
	}{{"limited-100", 0}, {"unlimited", 1e9}} {
		b.Run(tc.name, func(b *testing.B) {
			simRate := 0
			if tc.rate > 0 {
				simRate = 1 << 30
			}
			tb := setupBench(b, enssim.Config{WriteRate: 1 << 30, DescribeRate: simRate}, ens.Config{WriteRate: 1e9, DescribeRate: tc.rate})
			for i := range 50 {
				if _, err := tb.client.CreateClusterNodePool(b.Context(), createRequest(fmt.Sprintf("p%d", i))); err != nil {
					b.Fatal(err)
				}
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range 8 {
				wg.Go(func() {
					for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
						if p, err := tb.client.DescribeClusterNodePoolsPage(b.Context(), "eck-demo0001", 1, 50); err != nil || len(p.NodePools) != 50 {
							b.Errorf("page: %d pools, %v", len(p.NodePools), err)
						}
					}
				})
			}
			wg.Wait()
			el := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/el.Seconds(), "pages/s")
			b.ReportMetric(float64(tb.sim.Stats().Throttled), "throttled")
		})
	}
}

type benchBundle struct {
	sim    *enssim.Server
	client *ens.Client
}

func setupBench(b *testing.B, sc enssim.Config, cc ens.Config) *benchBundle {
	b.Helper()
	sc.AccessKeyID, sc.AccessKeySecret = testAK, testSecret
	sim, err := enssim.New(sc)
	if err != nil {
		b.Fatal(err)
	}
	srv := newServer(sim)
	b.Cleanup(func() { sim.Close(); srv.Close() })
	cc.Endpoint, cc.Protocol = srv.Listener.Addr().String(), "HTTP"
	cc.Credentials = ens.Credentials{AccessKeyID: testAK, AccessKeySecret: testSecret}
	c, err := ens.New(cc)
	if err != nil {
		b.Fatal(err)
	}
	return &benchBundle{sim: sim, client: c}
}
