package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/caller"
	"github.com/ensnodepool/webhook/pkg/deadletter"
	"github.com/ensnodepool/webhook/pkg/logattr"
	"github.com/ensnodepool/webhook/pkg/nodepool"
	"github.com/ensnodepool/webhook/pkg/tracking"
)

// finish writes the outcome of it: callbacks, tracking, dead letter or
// requeue. If that fails, the envelope is re-queued; the error is returned
// only when that fails too.
func (w *Worker) finish(ctx context.Context, it *item, now time.Time) error {
	var err error
	switch it.out.Outcome {
	case Created, Adopted:
		err = w.track(ctx, it, now)
	case Failed, Rejected:
		err = w.reportFailure(ctx, it, now)
	case Requeued:
		err = w.requeue(ctx, it)
		if err != nil {
			it.out.Outcome = Lost
		}
		w.log(ctx, it)
		return err
	case Duplicate:
	}
	if err != nil && it.msg.Err == nil {
		w.cfg.Logger.WarnContext(ctx, "worker: outcome not written; re-queueing the message",
			slog.String(logattr.KeyRequestID, it.out.RequestId), slog.String(logattr.KeyMessageID, it.out.MessageID),
			logattr.Error(err))
		if rerr := w.requeue(ctx, it); rerr != nil {
			it.out.Outcome = Lost
			err = errors.Join(err, rerr)
		} else {
			it.out.Outcome, it.out.Reason = Requeued, err.Error()
			err = nil
		}
	} else if err != nil {
		it.out.Outcome = Lost
	}
	w.log(ctx, it)
	return err
}

// track produces nodepool.creating and writes the tracking message.
func (w *Worker) track(ctx context.Context, it *item, now time.Time) error {
	m := &tracking.Message{
		RequestId: it.env.RequestId, ClusterId: it.req.ClusterId, Name: it.req.NodepoolInfo.Name,
		NodepoolId: it.out.NodepoolId, EnsRegionId: it.pool.NodepoolInfo.EnsRegionId, CallbackUrl: it.callback.Url, Caller: it.callerID(),
		CallbackFormat: it.callback.Format, CallbackExpiresAt: it.callback.ExpiresAt,
		CreatedAt: now, Deadline: now.Add(w.cfg.PoolDeadline),
	}
	ev := callback.Event{Type: callback.TypeCreating, Timestamp: now, Data: callback.EventData{
		RequestId: m.RequestId, ClusterId: m.ClusterId, Name: m.Name, NodepoolId: m.NodepoolId, EnsRegionId: m.EnsRegionId,
	}}
	if st := it.pool.Status; st.State != "" {
		m.LastState = st.State
		ev.Data.Status = &st
	}
	w.tell(ctx, it, m, ev, now)
	return w.sendTracking(ctx, m, now)
}

// reportFailure produces nodepool.failed (when the request can be told)
// and writes the dead letter.
func (w *Worker) reportFailure(ctx context.Context, it *item, now time.Time) error {
	var errs []error
	if it.callback.Url != "" && it.out.RequestId != "" && it.out.ClusterId != "" && it.out.Name != "" {
		m := &tracking.Message{
			RequestId: it.out.RequestId, ClusterId: it.out.ClusterId, Name: it.out.Name, Caller: it.callerID(),
			CallbackUrl: it.callback.Url, CallbackFormat: it.callback.Format, CallbackExpiresAt: it.callback.ExpiresAt,
			CreatedAt: now, Deadline: now.Add(w.cfg.PoolDeadline), Terminal: true,
		}
		ev := callback.Event{Type: callback.TypeFailed, Timestamp: now, Data: callback.EventData{
			RequestId: m.RequestId, ClusterId: m.ClusterId, Name: m.Name, Error: it.errorInfo(),
		}}
		w.tell(ctx, it, m, ev, now)
		if !m.Done() {
			errs = append(errs, w.sendTracking(ctx, m, now))
		}
	}
	body := it.msg.Body
	if it.msg.Err != nil {
		body = string(it.msg.Raw)
	}
	dl := newDeadLetter(it.out.Code, it.out.Reason, it, body, now, w.cfg.Sealer)
	errs = append(errs, w.deadLetter(ctx, dl))
	return errors.Join(errs...)
}

// tell queues ev on m and makes the immediate attempt. A delivered event
// leaves m; an undeliverable one (gone, refused) goes to the dead-letter
// queue and leaves m too, unless that send fails.
func (w *Worker) tell(ctx context.Context, it *item, m *tracking.Message, ev callback.Event, now time.Time) {
	m.Tell(ev, now)
	if w.cfg.Deliverer == nil || len(m.Deliveries) == 0 {
		return
	}
	d := &m.Deliveries[len(m.Deliveries)-1]
	nctx, cancel := context.WithTimeout(ctx, w.cfg.NotifyTimeout)
	w.cfg.Deliverer.Try(nctx, d)
	cancel()
	m.Observe() // a 410 marks the URL gone for the poller's later events
	switch {
	case d.State == callback.StateDelivered:
		it.out.Notified = true
		w.audit(ctx, it, caller.ActionDeliver, caller.DecisionDelivered, ev.Type, caller.SourceCallback)
	case d.Undeliverable():
		if err := w.deadLetter(ctx, deadletter.NewCallbackRecord(d, now)); err != nil {
			return // the poller finds it terminal in the tracking message
		}
		w.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "worker: callback dead-lettered",
			slog.String(logattr.KeyRequestID, m.RequestId), slog.String(logattr.KeyClusterID, m.ClusterId),
			slog.String(logattr.KeyName, m.Name), slog.String(logattr.KeyWebhookID, d.MessageID),
			slog.String("type", d.Event.Type), slog.String("reason", string(d.State)))
		w.audit(ctx, it, caller.ActionDeliver, caller.DecisionDeadLettered, ev.Type+": "+string(d.State), caller.SourceCallback)
	default:
		return
	}
	m.Deliveries = m.Deliveries[:len(m.Deliveries)-1]
}

// errorInfo is the failure as a callback event reports it.
func (it *item) errorInfo() *callback.ErrorInfo {
	return &callback.ErrorInfo{Code: it.out.Code, Message: it.out.Reason}
}

// callerID is the caller the item's events belong to: the one
// authenticate established (its callback secret signs them), else ""
// (simple mode: the shared callback secret).
func (it *item) callerID() string {
	if it.who == nil {
		return ""
	}
	return it.who.Id
}

func (w *Worker) sendTracking(ctx context.Context, m *tracking.Message, now time.Time) error {
	body, err := m.Marshal()
	if err != nil {
		return err
	}
	if err := w.send(ctx, w.cfg.Tracking, body, m.NextWake(now, w.cfg.Backoff)); err != nil {
		return fmt.Errorf("tracking send: %w", err)
	}
	return nil
}

func (w *Worker) requeue(ctx context.Context, it *item) error {
	if err := w.send(ctx, w.cfg.Requests, it.msg.Body, w.cfg.RequeueDelay); err != nil {
		return fmt.Errorf("requeue: %w", err)
	}
	return nil
}

// deadLetter writes the record v to the dead-letter queue.
func (w *Worker) deadLetter(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := w.send(ctx, w.cfg.DeadLetter, string(b), 0); err != nil {
		return fmt.Errorf("dead-letter send: %w", err)
	}
	return nil
}

// send puts body on s. The queue retries a failure that may pass within
// its own window (mns.Config.SendRetry), so an error here is final.
func (w *Worker) send(ctx context.Context, s Sender, body string, delay time.Duration) error {
	_, err := s.Send(ctx, body, delay)
	return err
}

// newDeadLetter is the dead-letter record of it (deadletter.RequestRecord):
// body redacted and bounded, or, when it is not JSON, withheld and sealed
// with s if s is not nil.
func newDeadLetter(code, reason string, it *item, body string, at time.Time, s *nodepool.Sealer) deadletter.RequestRecord {
	return deadletter.NewRequestRecord(deadletter.RequestRecord{Reason: reason, Code: code, MessageID: it.msg.MessageID,
		RequestId: it.out.RequestId, ClusterId: it.out.ClusterId, Name: it.out.Name, At: at}, body, s)
}
