package poller

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/caller"
	"github.com/ensnodepool/webhook/pkg/deadletter"
	"github.com/ensnodepool/webhook/pkg/logattr"
	"github.com/ensnodepool/webhook/pkg/mns"
	"github.com/ensnodepool/webhook/pkg/tracking"
)

// writer writes back the items whose attempts are over, as many at a time
// as have finished (up to a queue batch), and releases their pending slots
// and host shares. It returns when finished is closed and drained.
func (t *tick) writer(ctx context.Context) {
	for it := range t.finished {
		batch := []*item{it}
	more:
		for len(batch) < mns.MaxBatch {
			select {
			case x, ok := <-t.finished:
				if !ok {
					break more
				}
				batch = append(batch, x)
			default:
				break more
			}
		}
		t.writeBack(ctx, batch)
		t.mu.Lock()
		for _, it := range batch {
			for _, h := range it.hosts {
				h.held--
			}
		}
		t.mu.Unlock()
		for range batch {
			<-t.pending
		}
	}
}

// writeBack settles items and writes each back: deleted when done,
// replaced when changed (send the new body, then delete the old), hidden
// until its next wake-up when unchanged.
func (t *tick) writeBack(ctx context.Context, items []*item) {
	if len(items) == 0 {
		return
	}
	cfg := t.p.cfg
	now := cfg.Now()
	var (
		dels     []string
		outs     []mns.Outgoing
		replace  []*item
		receipts []string
	)
	for _, it := range items {
		receipt, deferUntil := t.settleReceipt(it)
		dlqFailed := t.settle(ctx, it, now)
		if it.m.Done() {
			dels = append(dels, receipt)
			t.count(func(s *Stats) { s.Deleted++ })
			continue
		}
		wake := it.m.NextWake(now, cfg.Backoff)
		if it.stale || dlqFailed {
			wake = max(wake, cfg.ErrorRetry)
		}
		if !deferUntil.IsZero() {
			wake = max(wake, time.Until(deferUntil))
		}
		t.due(time.Now().Add(wake))
		body, err := it.m.Marshal()
		if err != nil || body == it.msg.Body {
			if err != nil {
				t.log.ErrorContext(ctx, "poller: encode tracking message", slog.String(logattr.KeyRequestID, it.m.RequestId), logattr.Error(err))
			}
			if _, err := cfg.Tracking.ChangeVisibility(ctx, receipt, min(wake, maxVisibility)); err != nil {
				t.receiptFailed(ctx, "hide", it, err)
				continue
			}
			t.count(func(s *Stats) { s.Hidden++ })
			continue
		}
		outs = append(outs, mns.Outgoing{Body: body, Delay: min(wake, maxDelay)})
		replace = append(replace, it)
		receipts = append(receipts, receipt)
	}
	if len(outs) > 0 {
		res, err := cfg.Tracking.SendBatch(ctx, outs)
		for i, it := range replace {
			if res == nil || res[i].Err != nil {
				// The old message stays and is redone after its
				// visibility timeout; events it told again carry the
				// same webhook-id.
				t.count(func(s *Stats) { s.WriteErrors++ })
				t.log.ErrorContext(ctx, "poller: replacement not sent; old message kept",
					slog.String(logattr.KeyRequestID, it.m.RequestId), slog.String(logattr.KeyMessageID, it.msg.ID),
					logattr.Error(errors.Join(err, resErr(res, i))))
				continue
			}
			dels = append(dels, receipts[i])
			t.count(func(s *Stats) { s.Replaced++ })
		}
	}
	if len(dels) > 0 {
		if err := cfg.Tracking.DeleteBatch(ctx, dels); err != nil {
			t.deleteFailed(ctx, err)
		}
	}
}

// settle ends the deliveries that are over (tracking.Message.Observe:
// a 410 ends every delivery to that URL, a delivered event supersedes
// pending earlier ones): delivered and superseded ones are dropped,
// undeliverable ones are written to the dead-letter queue and dropped once
// written. It reports whether the dead-letter queue failed.
func (t *tick) settle(ctx context.Context, it *item, now time.Time) (dlqFailed bool) {
	for _, d := range it.m.Observe() {
		t.log.LogAttrs(ctx, slog.LevelInfo, "poller: callback superseded by a later delivered event; not sent", append(requestAttrs(it.m),
			slog.String(logattr.KeyWebhookID, d.MessageID), slog.String("type", d.Event.Type),
			slog.Int("sequence", d.Event.Data.Sequence))...)
	}
	keep := it.m.Deliveries[:0]
	for _, d := range it.m.Deliveries {
		switch {
		case d.State == callback.StateDelivered:
			auditDelivery(ctx, t.log, t.p.cfg.WithCallers, it.m, &d, caller.DecisionDelivered)
			continue
		case d.Undeliverable():
			b, err := json.Marshal(deadletter.NewCallbackRecord(&d, now))
			if err == nil {
				_, err = t.p.cfg.DeadLetter.Send(ctx, string(b), 0)
			}
			if err == nil {
				auditDelivery(ctx, t.log, t.p.cfg.WithCallers, it.m, &d, caller.DecisionDeadLettered)
				t.count(func(s *Stats) { s.DeadLettered++ })
				t.log.LogAttrs(ctx, slog.LevelWarn, "poller: callback dead-lettered", append(requestAttrs(it.m),
					slog.String(logattr.KeyWebhookID, d.MessageID), slog.String("type", d.Event.Type),
					slog.String("reason", string(d.State)), slog.Int("attempts", len(d.Attempts)))...)
				continue
			}
			dlqFailed = true
			t.count(func(s *Stats) { s.WriteErrors++ })
			t.log.ErrorContext(ctx, "poller: dead-letter send failed; kept for the next tick",
				slog.String(logattr.KeyRequestID, it.m.RequestId), slog.String(logattr.KeyWebhookID, d.MessageID), logattr.Error(err))
		}
		keep = append(keep, d)
	}
	clear(it.m.Deliveries[len(keep):])
	it.m.Deliveries = keep
	if len(keep) == 0 {
		it.m.Deliveries = nil
	}
	return dlqFailed
}

// auditDelivery writes the audit record of a delivered or dead-lettered
// event.
func auditDelivery(ctx context.Context, log *slog.Logger, withCallers bool, m *tracking.Message, d *callback.Delivery, decision string) {
	reason := d.Event.Type
	if decision == caller.DecisionDeadLettered {
		reason += ": " + string(d.State)
	}
	who := m.Caller
	if who == "" && !withCallers {
		who = caller.SimpleCaller
	}
	caller.Audit(ctx, log, caller.Record{Caller: who, Source: caller.SourceCallback,
		Action: caller.ActionDeliver, ClusterId: m.ClusterId, Name: m.Name, RequestId: m.RequestId,
		Decision: decision, Reason: reason})
}

// requestAttrs are the log attributes that identify m's request.
func requestAttrs(m *tracking.Message) []slog.Attr {
	return []slog.Attr{slog.String(logattr.KeyRequestID, m.RequestId), slog.String(logattr.KeyClusterID, m.ClusterId),
		slog.String(logattr.KeyName, m.Name), slog.String(logattr.KeyNodepoolID, m.NodepoolId)}
}

func resErr(res []mns.SendResult, i int) error {
	if res == nil {
		return nil
	}
	return res[i].Err
}

// deleteFailed logs a failed delete. A stale receipt means the message
// became visible and was received again (by a later tick) before we
// deleted it: at worst a duplicate tracking message, whose events carry
// the same webhook-ids, so receivers deduplicate them.
func (t *tick) deleteFailed(ctx context.Context, err error) {
	t.count(func(s *Stats) { s.WriteErrors++ })
	lvl := slog.LevelError
	if errors.Is(err, mns.ErrStaleReceipt) {
		lvl = slog.LevelWarn
	}
	t.log.Log(ctx, lvl, "poller: delete failed", logattr.Error(err))
}

func (t *tick) receiptFailed(ctx context.Context, op string, it *item, err error) {
	t.count(func(s *Stats) { s.WriteErrors++ })
	lvl := slog.LevelError
	if errors.Is(err, mns.ErrStaleReceipt) {
		lvl = slog.LevelWarn
	}
	t.log.Log(ctx, lvl, "poller: "+op+" failed", slog.String(logattr.KeyRequestID, it.m.RequestId),
		slog.String(logattr.KeyMessageID, it.msg.ID), logattr.Error(err))
}
