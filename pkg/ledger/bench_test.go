package ledger

import (
	"context"
	"slices"
	"testing"
	"time"
)

// latency collects per-operation times and reports their median as
// p50-ns/op beside the mean ns/op.
type latency []time.Duration

func (l *latency) time(fn func()) {
	start := time.Now()
	fn()
	*l = append(*l, time.Since(start))
}

func (l latency) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	b.ReportMetric(float64(l[len(l)/2].Nanoseconds()), "p50-ns/op")
}

// The ledger's cost per created pool, counted in write requests at the
// store: the reservation (Reserve, the minute's counter, MarkQueued), then
// one per event and one per delivery attempt, and nothing else. A replay
// of the key costs one conditional PutRow that fails (and one GetRow).
func TestWritesPerPool(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	at := b.clock.Now()
	step := func(what string, want int64, fn func() error) {
		t.Helper()
		before := b.writes(t)
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := b.writes(t) - before; got != want {
			t.Fatalf("%s: %d writes, want %d", what, got, want)
		}
	}
	r := b.reservation("acme", "k", "d", "req_cost")
	r.Deadline = at.Add(time.Hour)
	var res Reserved
	step("Reserve", 1, func() (err error) { res, err = b.l.Reserve(ctx, r); return err })
	step("Quota", 1, func() error { return b.l.Quota(ctx, "acme", Limits{PerMinute: 10, InFlight: 5}) })
	step("MarkQueued", 1, func() error { return b.l.MarkQueued(ctx, res) })
	step("creating", 1, func() error {
		return b.l.Event(ctx, "req_cost", Event{Type: "nodepool.creating", Sequence: 1, At: at})
	})
	step("attempt 1", 1, func() error {
		return b.l.Delivery(ctx, "req_cost", Attempt{WebhookId: "msg_c", Type: "nodepool.creating", At: at, StatusCode: 503, DurationMs: 40})
	})
	step("attempt 2", 1, func() error {
		return b.l.Delivery(ctx, "req_cost", Attempt{WebhookId: "msg_c", Type: "nodepool.creating", At: at.Add(time.Second), StatusCode: 200, DurationMs: 30})
	})
	step("active", 1, func() error {
		return b.l.Finish(ctx, "acme", "req_cost", Event{Type: "nodepool.active", Sequence: 2, At: at.Add(time.Minute)})
	})
	step("attempt 3", 1, func() error {
		return b.l.Delivery(ctx, "req_cost", Attempt{WebhookId: "msg_a", Type: "nodepool.active", At: at.Add(time.Minute), StatusCode: 200, DurationMs: 30})
	})
	step("replay", 1, func() error {
		got, err := b.l.Reserve(ctx, b.reservation("acme", "k", "d", "req_again"))
		if err == nil && !got.Queued {
			t.Fatal("the replay holds the key")
		}
		return err
	})
}

// BenchmarkReserve reserves new keys: Reserve alone (one conditional
// PutRow), and with MarkQueued (one BatchWriteRow more), through the SDK
// and the in-process simulator.
func BenchmarkReserve(b *testing.B) {
	for _, mark := range []bool{false, true} {
		name := "Reserve"
		if mark {
			name = "ReserveMarkQueued"
		}
		b.Run(name, func(b *testing.B) {
			bb := setup(b)
			ctx := context.Background()
			b.ReportAllocs()
			var lat latency
			i := 0
			for b.Loop() {
				r := bb.reservation("acme", reqID(i), "d", reqID(i))
				i++
				lat.time(func() {
					res, err := bb.l.Reserve(ctx, r)
					if err == nil && mark {
						err = bb.l.MarkQueued(ctx, res)
					}
					if err != nil {
						b.Fatal(err)
					}
				})
			}
			lat.report(b)
		})
	}
}

// BenchmarkEvent records one event (one UpdateRow).
func BenchmarkEvent(b *testing.B) {
	bb := setup(b)
	ctx := context.Background()
	bb.accept(b, bb.reservation("acme", "k", "d", "req_bench"))
	at := bb.clock.Now()
	b.ReportAllocs()
	var lat latency
	seq := 0
	for b.Loop() {
		seq = seq%20 + 1 // a pool has a handful of events; rewrite them
		lat.time(func() {
			if err := bb.l.Event(ctx, "req_bench", Event{Type: "nodepool.creating", Sequence: seq, At: at}); err != nil {
				b.Fatal(err)
			}
		})
	}
	lat.report(b)
}
