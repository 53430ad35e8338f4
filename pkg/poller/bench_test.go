package poller

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/ens"
	"github.com/ensnodepool/webhook/pkg/tracking"
)

// heapSampler samples the live heap (runtime/metrics heap objects bytes)
// every 2 ms until stopped and returns the peak.
func heapSampler() (stop func() uint64) {
	const name = "/memory/classes/heap/objects:bytes"
	s := []metrics.Sample{{Name: name}}
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak
	}
}

func liveHeap() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// createPools creates n pools per cluster concurrently and returns their
// tracking messages (no callback URL unless url is set).
func (e *env) createPools(b testing.TB, clusters, n int, url func(i int) string) []tracking.Message {
	var (
		mu   sync.Mutex
		msgs []tracking.Message
		wg   sync.WaitGroup
		sem  = make(chan struct{}, 16)
	)
	for c := range clusters {
		for i := range n {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				name := fmt.Sprintf("p%05d", i)
				resp, err := e.ensc.CreateClusterNodePool(context.Background(), &ens.CreateClusterNodePoolRequest{
					ClusterId: clusterID(c), NodepoolInfo: &ens.NodepoolInfo{Name: name},
					ScalingGroup: &ens.ScalingGroup{ImageId: "m-test", InstanceTypes: []string{"ens.sn1.small"},
						VswitchIds: []string{"vsw-test0001"}, DesiredSize: 1, Password: "Test-Passw0rd"},
				})
				if err != nil {
					b.Error(err)
					return
				}
				u := ""
				if url != nil {
					u = url(c*n + i)
				}
				m := e.message(clusterID(c), name, resp.Nodepool.NodepoolInfo.NodepoolId, u)
				mu.Lock()
				msgs = append(msgs, m)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	return msgs
}

// BenchmarkTick10kPools: 10,000 tracked pools across 20 clusters in one
// tick. Reports ENS Describe calls against the lower bound
// Σ ceil(pools per cluster / PageSize) (naive per-pool polling: 10,000),
// the tick's wall time and the peak live heap during the tick. The heap
// is the whole process: it includes the in-process MNS and ENS simulators
// serving the tick (heap-delta subtracts what they held before it).
//
// state=initial: every pool still provisioning, so every message is
// checked and replaced (the steady-state tick). state=active: every pool
// became active, so each produces nodepool.active and is deleted (no
// callback URL: delivery is measured by BenchmarkCallbacks1000Slow).
func BenchmarkTick10kPools(b *testing.B) {
	for _, bc := range []struct {
		state     string
		provision time.Duration
	}{{"initial", 24 * time.Hour}, {"active", 20 * time.Second}} {
		b.Run("state="+bc.state, func(b *testing.B) { benchTick(b, bc.provision) })
	}
}

func benchTick(b *testing.B, provision time.Duration) {
	const clusters, perCluster, pageSize = 20, 500, 50
	e := newEnv(b, envOptions{clusters: clusters, pageSize: pageSize})
	if err := e.ens.SetProvisionTime(provision); err != nil {
		b.Fatal(err)
	}
	msgs := e.createPools(b, clusters, perCluster, nil)
	for i := range msgs {
		msgs[i].Deadline = msgs[i].CreatedAt.Add(48 * time.Hour)
	}
	for i := 0; i < len(msgs); i += 1000 {
		e.track(b, msgs[i:min(i+1000, len(msgs))]...)
	}
	msgs = nil
	p := e.poller(b, e.sender(b, e.senderConfig()), nil)
	lower := int64(clusters * ((perCluster + pageSize - 1) / pageSize))
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		e.clock.Advance(5 * time.Minute) // every message due again (Backoff.Max is 2 min)
		before := e.ens.Stats().Calls["DescribeClusterNodePools"]
		base := liveHeap()
		stop := heapSampler()
		b.StartTimer()
		s := e.tick(b, p)
		b.StopTimer()
		peak := stop()
		calls := e.ens.Stats().Calls["DescribeClusterNodePools"] - before
		b.ReportMetric(float64(calls), "describe-calls")
		b.ReportMetric(float64(lower), "lower-bound")
		b.ReportMetric(s.Duration.Seconds(), "tick-s")
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(peak-min(base, peak))/(1<<20), "heap-delta-MiB")
		b.Logf("received %d, checked %d, clusters %d, replaced %d, deleted %d, events %v; Describe calls %d (lower bound %d, naive %d); tick %v; heap before %.1f MiB, peak %.1f MiB",
			s.Received, s.Checked, s.Clusters, s.Replaced, s.Deleted, s.Events, calls, lower, clusters*perCluster,
			s.Duration, float64(base)/(1<<20), float64(peak)/(1<<20))
		if calls != lower || s.Checked != clusters*perCluster {
			b.Errorf("Describe calls %d (want %d), checked %d (want %d)", calls, lower, s.Checked, clusters*perCluster)
		}
		b.StartTimer()
	}
}

// BenchmarkCallbacks1000Slow: 1,000 pools become active; 10 % of their
// receivers (ten hosts) answer after 5 s. All must be delivered within one
// tick of a 60 s invocation.
func BenchmarkCallbacks1000Slow(b *testing.B) {
	for range b.N {
		b.StopTimer()
		e := newEnv(b, envOptions{})
		fast := newReceiver(b, e, nil)
		var slow []*receiver
		for range 10 {
			r := newReceiver(b, e, nil)
			r.delay = 5 * time.Second
			slow = append(slow, r)
		}
		msgs := e.createPools(b, 1, 1000, func(i int) string {
			if i%10 == 0 {
				return slow[(i/10)%10].URL()
			}
			return fast.URL()
		})
		e.track(b, msgs...)
		p := e.poller(b, e.sender(b, e.senderConfig()), nil)
		e.clock.Advance(time.Minute) // all active
		e.followWall(b)              // deferred messages come back within the tick
		b.StartTimer()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		s, err := p.Tick(ctx)
		cancel()
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		got := len(fast.Calls())
		for _, r := range slow {
			got += len(r.Calls())
		}
		b.ReportMetric(s.Duration.Seconds(), "tick-s")
		b.ReportMetric(float64(s.Delivered), "delivered")
		b.Logf("events %v, attempts %d, delivered %d, deferred %d, deleted %d, receivers got %d; tick %v",
			s.Events, s.Attempts, s.Delivered, s.Deferred, s.Deleted, got, s.Duration)
		if s.Delivered != 1000 || got != 1000 || s.Duration > 60*time.Second {
			b.Errorf("delivered %d (receivers %d) in %v; want 1000 within 60 s", s.Delivered, got, s.Duration)
		}
	}
}
