package callback

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkDeliverAll1000 sends 1,000 callbacks to 100 loopback receivers,
// 10 of which (10 %) answer only after 5 s, with bounded concurrency, and
// requires all of them delivered within one 60 s window (a poller tick).
// Run: go test -run '^$' -bench DeliverAll1000 -benchtime=1x ./pkg/callback/
func BenchmarkDeliverAll1000(b *testing.B) {
	const (
		callbacks = 1000
		receivers = 100
		slowEvery = 10 // every 10th receiver is slow
		slowDelay = 5 * time.Second
		window    = 60 * time.Second
	)
	urls := make([]string, receivers)
	for i := range receivers {
		slow := i%slowEvery == 0
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if slow {
				select {
				case <-time.After(slowDelay):
				case <-r.Context().Done():
				}
			}
			w.WriteHeader(http.StatusNoContent)
		}))
		b.Cleanup(srv.Close)
		urls[i] = srv.URL + "/cb"
	}
	for _, concurrency := range []int{32, 64, 128} {
		b.Run(fmt.Sprintf("concurrency=%d", concurrency), func(b *testing.B) {
			s, err := NewDeliverer(Config{
				Secrets:   []string{testSecret},
				Allow:     []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
				AllowHTTP: true,
			})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var wall time.Duration
			for range b.N {
				ds := make([]*Delivery, callbacks)
				now := time.Now()
				for i := range ds {
					ev := sampleEvent()
					ev.Data.RequestId = fmt.Sprintf("req-%04d", i)
					ds[i] = NewDelivery(urls[i%receivers], ev, now)
				}
				ctx, cancel := context.WithTimeout(context.Background(), window)
				start := time.Now()
				sum := s.DeliverAll(ctx, ds, concurrency)
				elapsed := time.Since(start)
				cancel()
				wall += elapsed
				if sum.Delivered != callbacks || elapsed > window {
					b.Fatalf("delivered %d/%d in %v: %+v", sum.Delivered, callbacks, elapsed, sum)
				}
			}
			b.ReportMetric(wall.Seconds()/float64(b.N), "wall-s/op")
			b.ReportMetric(float64(callbacks), "callbacks/op")
		})
	}
}
