package mns_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/mns"
)

// The benchmarks drive the durable service (bbolt under b.TempDir) through this client, i.e.
// through the official Go SDK over loopback HTTP:
//
//	go test -run '^$' -bench . -benchtime 3s ./pkg/mns

func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	if len(lat) == 0 {
		return
	}
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkCycle is one send + receive + delete of one message, sequentially (one client).
func BenchmarkCycle(b *testing.B) {
	ctx := context.Background()
	tb := setup(b, benchDir(b))
	q := mustQueue(b, tb.client, "bench", mns.QueueAttributes{})
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := q.Send(ctx, "payload", 0); err != nil {
			b.Fatal(err)
		}
		msgs, err := q.Receive(ctx, 1, time.Second)
		if err != nil || len(msgs) != 1 {
			b.Fatalf("receive: %v %v", msgs, err)
		}
		if err := q.Delete(ctx, msgs[0].ReceiptHandle); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "cycles/s")
	reportLatency(b, lat)
}

// BenchmarkCycleParallel runs independent send + receive + delete cycles from 4 clients on
// their own queues, as the worker and poller functions would.
func BenchmarkCycleParallel(b *testing.B) {
	ctx := context.Background()
	tb := setup(b, benchDir(b))
	const workers = 4
	qs := make([]*mns.Queue, workers)
	for i := range qs {
		qs[i] = mustQueue(b, tb.client, fmt.Sprintf("bench-%d", i), mns.QueueAttributes{})
	}
	var mu sync.Mutex
	var lat []time.Duration
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	per := (b.N + workers - 1) / workers
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := qs[w]
			local := make([]time.Duration, 0, per)
			for range per {
				t0 := time.Now()
				if _, err := q.Send(ctx, "payload", 0); err != nil {
					b.Error(err)
					return
				}
				msgs, err := q.Receive(ctx, 1, time.Second)
				if err != nil || len(msgs) != 1 {
					b.Errorf("receive: %v %v", msgs, err)
					return
				}
				if err := q.Delete(ctx, msgs[0].ReceiptHandle); err != nil {
					b.Error(err)
					return
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(per*workers)/time.Since(start).Seconds(), "cycles/s")
	reportLatency(b, lat)
}

// BenchmarkBatch is SendBatch(16) + Receive(16) + DeleteBatch; b.N counts messages.
func BenchmarkBatch(b *testing.B) {
	ctx := context.Background()
	tb := setup(b, benchDir(b))
	q := mustQueue(b, tb.client, "bench", mns.QueueAttributes{})
	out := make([]mns.Outgoing, mns.MaxBatch)
	for i := range out {
		out[i] = mns.Outgoing{Body: "payload-payload-payload"}
	}
	var lat []time.Duration
	b.ResetTimer()
	start := time.Now()
	n := 0
	for n < b.N {
		t0 := time.Now()
		if _, err := q.SendBatch(ctx, out); err != nil {
			b.Fatal(err)
		}
		var handles []string
		for len(handles) < len(out) {
			msgs, err := q.Receive(ctx, mns.MaxBatch, time.Second)
			if err != nil {
				b.Fatal(err)
			}
			for _, m := range msgs {
				handles = append(handles, m.ReceiptHandle)
			}
		}
		if err := q.DeleteBatch(ctx, handles); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
		n += len(out)
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "msgs/s")
	reportLatency(b, lat)
}

// BenchmarkLongPollWake measures the time from starting a send to a waiting long poll
// returning that message.
func BenchmarkLongPollWake(b *testing.B) {
	ctx := context.Background()
	tb := setup(b, benchDir(b))
	q := mustQueue(b, tb.client, "bench", mns.QueueAttributes{})
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		got := make(chan time.Time, 1)
		go func() {
			msgs, err := q.Receive(ctx, 1, 10*time.Second)
			at := time.Now()
			if err != nil || len(msgs) != 1 {
				b.Errorf("receive: %v %v", msgs, err)
			} else if err := q.Delete(ctx, msgs[0].ReceiptHandle); err != nil {
				b.Error(err)
			}
			got <- at
		}()
		time.Sleep(2 * time.Millisecond) // let the poll reach the server and wait
		t0 := time.Now()
		if _, err := q.Send(ctx, "wake", 0); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, (<-got).Sub(t0))
	}
	reportLatency(b, lat)
}

// benchDir is the service's data dir: durable by default, in memory with BENCH_MEMORY=1 (for
// comparing the cost of persistence).
func benchDir(b *testing.B) string {
	if os.Getenv("BENCH_MEMORY") == "1" {
		return ""
	}
	return b.TempDir()
}
