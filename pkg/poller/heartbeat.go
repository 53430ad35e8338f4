package poller

import (
	"context"
	"time"
)

// heartbeats keeps held messages invisible: every Heartbeat, each one
// whose visibility was last set at least Heartbeat ago is hidden for
// Visibility more, and its new receipt handle replaces the old (MNS
// rotates it on every change).
func (t *tick) heartbeats(ctx context.Context) {
	cfg := t.p.cfg
	timer := time.NewTicker(cfg.Heartbeat)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		t.mu.Lock()
		items := make([]*item, 0, len(t.held))
		for it := range t.held {
			items = append(items, it)
		}
		t.mu.Unlock()
		for _, it := range items {
			if ctx.Err() != nil {
				return
			}
			t.heartbeat(ctx, it)
		}
	}
}

func (t *tick) heartbeat(ctx context.Context, it *item) {
	cfg := t.p.cfg
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.settled || time.Since(it.extended) < cfg.Heartbeat {
		return
	}
	r, err := cfg.Tracking.ChangeVisibility(ctx, it.receipt, cfg.Visibility)
	if err != nil {
		// The message may become visible and be received again: at worst
		// its events are told twice under the same webhook-ids.
		t.receiptFailed(ctx, "heartbeat", it, err)
		return
	}
	it.receipt, it.extended = r, time.Now()
	t.count(func(s *Stats) { s.Heartbeats++ })
}

// settleReceipt marks it as written back and returns its current receipt
// handle; heartbeats no longer touch it.
func (t *tick) settleReceipt(it *item) (string, time.Time) {
	it.mu.Lock()
	it.settled = true
	r, until := it.receipt, it.deferUntil
	it.mu.Unlock()
	t.mu.Lock()
	delete(t.held, it)
	t.mu.Unlock()
	return r, until
}
