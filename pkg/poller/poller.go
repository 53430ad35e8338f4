// Package poller is the core of the poller function: on each timer tick it
// drains the due tracking messages, reads each cluster's node pools once,
// turns state changes into signed callbacks and writes every message back
// with its next wake-up time.
//
// One tick:
//
//  1. Receive up to 16 due tracking messages at a time until the queue is
//     empty or the time budget (context deadline minus Config.Reserve, at
//     most Config.MaxTick) is spent.
//  2. Read the node pools of every cluster that a message of the batch
//     needs, once per tick (DescribeClusterNodePools, all pages); later
//     batches reuse the result. ENS calls per tick are therefore
//     Σ ceil(pools per cluster / PageSize), not one per pool.
//  3. Decide per pool: active (State active, ServingNodes = DesiredNodes,
//     InitialNodes = 0), failed (State failed, the pool no longer listed,
//     or the cluster gone), timeout (past the deadline; the pool is then
//     still checked for Config.LateWatch, so a late active or failed
//     follows) — each produced once, through tracking.Message.Tell — or
//     check again later. A cluster that could not be read produces no
//     event.
//  4. Make the due callback attempts on a pool of Config.CallbackConcurrency
//     workers shared by the whole tick; undeliverable callbacks (gone,
//     refused, exhausted) go to the dead-letter queue with their history.
//     A 410 ends every later event of the request to that URL, and a
//     delivered event drops pending earlier ones (tracking.Message.Observe).
//  5. Write back: delete messages that are done; replace changed ones
//     ("send the new message, then delete the old", safe on redelivery);
//     hide unchanged ones until their next wake-up.
//
// Messages go through the tick batch by batch and at most
// Config.MaxPending wait for callbacks, so memory does not grow with the
// number of tracked pools beyond one small status map per cluster.
package poller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/fcadapter"
	"github.com/ensnodepool/webhook/pkg/mns"
	"github.com/ensnodepool/webhook/pkg/nodepool"
	"github.com/ensnodepool/webhook/pkg/tracking"
)

// Poller runs ticks. It keeps no state between ticks (the queue is the
// state) and is safe for concurrent use, although one tick at a time is
// the intended deployment (reservedConcurrency 1).
type Poller struct {
	cfg Config
}

// New returns a Poller for cfg.
func New(cfg Config) (*Poller, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Poller{cfg: cfg}, nil
}

// Stats counts what one tick did.
type Stats struct {
	// Received counts messages received (a message received twice in a
	// tick counts twice); Invalid those that were dead-lettered unread.
	Received, Invalid int
	// Clusters counts clusters read; ClusterErrors those that failed
	// transiently (their messages wait for a later tick).
	Clusters, ClusterErrors int
	// Checked counts status checks; Events the events produced, by type.
	Checked int
	Events  map[string]int
	// Attempts, Delivered and Retrying count callback attempts and their
	// results; DeadLettered counts dead-letter records written; Deferred
	// counts due attempts left for a later tick (budget spent).
	Attempts, Delivered, Retrying, DeadLettered, Deferred int
	// Deleted, Replaced and Hidden count write-backs: done messages
	// deleted, changed ones replaced, unchanged ones hidden again.
	Deleted, Replaced, Hidden int
	// WriteErrors counts failed queue writes (the message is redone later).
	WriteErrors int
	// OutOfBudget is set when the tick stopped before the queue was empty.
	OutOfBudget bool
	// Duration is the tick's wall time.
	Duration time.Duration
}

// InvalidMessage is the dead-letter record of a tracking message that
// could not be parsed. It shares Version, Reason and At with
// callback.DeadLetter; Reason is always ReasonInvalid.
type InvalidMessage struct {
	// Version is InvalidMessageVersion.
	Version int
	// Kind is KindTracking.
	Kind string
	// Reason is ReasonInvalid.
	Reason string
	// At is when the message was rejected.
	At time.Time
	// MessageID is the MNS message id of the rejected message.
	MessageID string
	// Error says why it could not be parsed.
	Error string
	// Body is the message body with every password member masked
	// (nodepool.RedactJSON; tracking messages carry none, but a producer
	// may break the contract); empty when BodyWithheld.
	Body string
	// BodySize is the size in bytes of the body as received.
	BodySize int
	// BodyWithheld reports that the body is not JSON, so a password in it
	// could not be found and masked: it is not kept at all.
	BodyWithheld bool `json:",omitempty"`
}

// InvalidMessageVersion is the version of the InvalidMessage record shape.
const InvalidMessageVersion = 1

// KindTracking is the Kind of an InvalidMessage on the dead-letter queue.
const KindTracking = "tracking"

// ReasonInvalid is the Reason of an InvalidMessage.
const ReasonInvalid = "invalid"

// item is one received, parsed tracking message on its way through a tick.
type item struct {
	msg     mns.Message
	m       *tracking.Message
	stale   bool                 // cluster unreadable: wait at least ErrorRetry
	due     []*callback.Delivery // attempts to make this tick
	pending atomic.Int32         // due attempts not yet finished
}

// task is one due callback attempt.
type task struct {
	it *item
	d  *callback.Delivery
}

// tick is the state of one Tick call.
type tick struct {
	p      *Poller
	stopAt time.Time // wall clock: no receive or attempt starts after it
	log    *slog.Logger

	clusters map[string]*cluster // read once per tick

	mu    sync.Mutex
	stats Stats

	tasks   chan task
	pending chan struct{} // semaphore of items waiting for callbacks
	workers sync.WaitGroup
}

func (t *tick) count(f func(s *Stats)) {
	t.mu.Lock()
	f(&t.stats)
	t.mu.Unlock()
}

// Tick drains the due tracking messages once (see the package doc). It
// returns an error wrapping ErrQueue when the tracking queue could not be
// read; ENS and callback failures are per cluster and per delivery, logged
// and counted in Stats, never a tick error.
func (p *Poller) Tick(ctx context.Context) (Stats, error) {
	start := time.Now()
	t := &tick{
		p:        p,
		stopAt:   start.Add(p.cfg.MaxTick),
		log:      p.cfg.Logger,
		clusters: map[string]*cluster{},
		tasks:    make(chan task),
		pending:  make(chan struct{}, p.cfg.MaxPending),
		stats:    Stats{Events: map[string]int{}},
	}
	if dl, ok := ctx.Deadline(); ok && dl.Add(-p.cfg.Reserve).Before(t.stopAt) {
		t.stopAt = dl.Add(-p.cfg.Reserve)
	}
	for range p.cfg.CallbackConcurrency {
		t.workers.Add(1)
		go t.worker(ctx)
	}
	err := t.drain(ctx)
	close(t.tasks)
	t.workers.Wait()

	t.stats.Duration = time.Since(start)
	s := t.stats
	lvl := slog.LevelDebug // an idle tick says nothing at INFO
	switch {
	case err != nil:
		lvl = slog.LevelError
	case s.Received > 0:
		lvl = slog.LevelInfo
	}
	p.cfg.Logger.Log(ctx, lvl, "poller: tick",
		slog.Int("received", s.Received), slog.Int("invalid", s.Invalid), slog.Int("clusters", s.Clusters),
		slog.Int("clusterErrors", s.ClusterErrors), slog.Int("checked", s.Checked), slog.Any("events", s.Events),
		slog.Int("attempts", s.Attempts), slog.Int("delivered", s.Delivered), slog.Int("deadLettered", s.DeadLettered),
		slog.Int("deleted", s.Deleted), slog.Int("replaced", s.Replaced), slog.Int("hidden", s.Hidden),
		slog.Int("writeErrors", s.WriteErrors), slog.Bool("outOfBudget", s.OutOfBudget),
		fcadapter.LogDuration("duration", s.Duration), fcadapter.LogError(err))
	return s, err
}

// drain receives and processes batches until the queue is empty, the
// budget is spent or the queue fails.
func (t *tick) drain(ctx context.Context) error {
	cfg := t.p.cfg
	wait := max(cfg.ReceiveWait, 0)
	for {
		if ctx.Err() != nil || !time.Now().Before(t.stopAt) {
			t.count(func(s *Stats) { s.OutOfBudget = true })
			return nil
		}
		msgs, err := cfg.Tracking.Receive(ctx, cfg.BatchSize, wait)
		if err != nil {
			if ctx.Err() != nil {
				t.count(func(s *Stats) { s.OutOfBudget = true })
				return nil
			}
			return fmt.Errorf("%w: %w", ErrQueue, err)
		}
		if len(msgs) == 0 {
			return nil
		}
		t.batch(ctx, msgs)
	}
}

// batch processes one received batch: parse, read clusters, decide, then
// write back at once the messages without due callbacks and hand the
// others to the callback workers.
func (t *tick) batch(ctx context.Context, msgs []mns.Message) {
	cfg := t.p.cfg
	t.count(func(s *Stats) { s.Received += len(msgs) })
	items := make([]*item, 0, len(msgs))
	for _, msg := range msgs {
		m, err := tracking.Parse([]byte(msg.Body))
		if err != nil {
			t.reject(ctx, msg, err)
			continue
		}
		items = append(items, &item{msg: msg, m: m})
	}
	t.readClusters(ctx, items)

	now := cfg.Now()
	var ready []*item
	var work []*item
	for _, it := range items {
		var c *cluster
		if !it.m.Terminal {
			c = t.clusters[it.m.ClusterId]
		}
		v := t.p.decide(it.m, c, now)
		it.stale = v.stale
		if v.event != "" {
			t.log.LogAttrs(ctx, slog.LevelInfo, "poller: "+v.event, append(requestAttrs(it.m), slog.String("type", v.event))...)
		}
		t.count(func(s *Stats) {
			if v.checked {
				s.Checked++
			}
			if v.event != "" {
				s.Events[v.event]++
			}
		})
		for i := range it.m.Deliveries {
			if d := &it.m.Deliveries[i]; d.Due(now) {
				it.due = append(it.due, d)
			}
		}
		if len(it.due) == 0 {
			ready = append(ready, it)
		} else {
			work = append(work, it)
		}
	}
	t.writeBack(ctx, ready)
	for _, it := range work {
		select {
		case t.pending <- struct{}{}:
		case <-ctx.Done():
			// Not written back: the message reappears after its
			// visibility timeout and is redone.
			continue
		}
		it.pending.Store(int32(len(it.due)))
		for _, d := range it.due {
			t.tasks <- task{it: it, d: d}
		}
	}
}

// readClusters reads, concurrently, the clusters that the non-terminal
// messages of items need: those this tick has not read yet, and those
// whose read is not newer than a message's creation or last check (a
// message due again within a long tick, or a pool created after the read;
// see cluster.newerThan). A read that failed is not repeated in the tick.
func (t *tick) readClusters(ctx context.Context, items []*item) {
	cfg := t.p.cfg
	var need []string
	seen := map[string]bool{}
	for _, it := range items {
		id := it.m.ClusterId
		c := t.clusters[id]
		if it.m.Terminal || seen[id] || (c != nil && (c.err != nil || c.gone || c.newerThan(it.m))) {
			continue
		}
		seen[id] = true
		need = append(need, id)
	}
	if len(need) == 0 {
		return
	}
	got := make([]*cluster, len(need))
	sem := make(chan struct{}, cfg.ClusterConcurrency)
	var wg sync.WaitGroup
	for i, id := range need {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, cfg.ClusterTimeout)
			defer cancel()
			readAt := cfg.Now()
			pools, err := cfg.Pools.DescribeClusterNodePools(cctx, id)
			got[i] = newCluster(readAt, pools, err)
		}()
	}
	wg.Wait()
	for i, id := range need {
		c := got[i]
		t.clusters[id] = c
		t.count(func(s *Stats) {
			s.Clusters++
			if c.err != nil {
				s.ClusterErrors++
			}
		})
		switch {
		case c.err != nil:
			t.log.WarnContext(ctx, "poller: cluster not read; its pools are checked later",
				slog.String(fcadapter.LogKeyClusterID, id), fcadapter.LogError(c.err))
		case c.gone:
			t.log.WarnContext(ctx, "poller: cluster does not exist", slog.String(fcadapter.LogKeyClusterID, id))
		}
	}
}

// worker makes callback attempts and writes back each message once its
// last due attempt has finished.
func (t *tick) worker(ctx context.Context) {
	defer t.workers.Done()
	for tk := range t.tasks {
		if ctx.Err() != nil || !time.Now().Before(t.stopAt) {
			// Too late to start an attempt that may take the whole
			// callback timeout: leave it due for the next tick. Not an
			// attempt, so it costs the receiver nothing in the schedule.
			t.count(func(s *Stats) { s.Deferred++ })
		} else if a, tried := t.p.cfg.Deliverer.Try(ctx, tk.d); tried {
			t.count(func(s *Stats) {
				s.Attempts++
				if a.Outcome == callback.Delivered {
					s.Delivered++
				} else if tk.d.State == callback.Pending {
					s.Retrying++
				}
			})
		}
		if tk.it.pending.Add(-1) == 0 {
			t.writeBack(ctx, []*item{tk.it})
			<-t.pending
		}
	}
}

// reject dead-letters an unparseable message and deletes it. If the
// dead-letter write fails the message stays, to be retried when it
// becomes visible again.
func (t *tick) reject(ctx context.Context, msg mns.Message, perr error) {
	cfg := t.p.cfg
	rec := InvalidMessage{Version: InvalidMessageVersion, Kind: KindTracking, Reason: ReasonInvalid, At: cfg.Now(),
		MessageID: msg.ID, Error: perr.Error(), BodySize: len(msg.Body)}
	if out, ok := nodepool.RedactJSON([]byte(msg.Body)); ok {
		rec.Body = string(out)
	} else {
		rec.BodyWithheld = true
	}
	b, _ := json.Marshal(rec) // plain strings and a time: cannot fail
	t.log.WarnContext(ctx, "poller: invalid tracking message dead-lettered",
		slog.String(fcadapter.LogKeyMessageID, msg.ID), fcadapter.LogError(perr))
	if _, err := cfg.DeadLetter.Send(ctx, string(b), 0); err != nil {
		t.count(func(s *Stats) { s.WriteErrors++ })
		t.log.ErrorContext(ctx, "poller: dead-letter send failed; invalid message kept",
			slog.String(fcadapter.LogKeyMessageID, msg.ID), fcadapter.LogError(err))
		return
	}
	t.count(func(s *Stats) { s.Invalid++; s.DeadLettered++ })
	if err := cfg.Tracking.DeleteBatch(ctx, []string{msg.ReceiptHandle}); err != nil {
		t.deleteFailed(ctx, err)
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
			slog.String(fcadapter.LogKeyWebhookID, d.MessageID), slog.String("type", d.Event.Type),
			slog.Int("sequence", d.Event.Data.Sequence))...)
	}
	keep := it.m.Deliveries[:0]
	for _, d := range it.m.Deliveries {
		switch {
		case d.State == callback.StateDelivered:
			continue
		case d.Undeliverable():
			b, err := json.Marshal(d.DeadLetter(now))
			if err == nil {
				_, err = t.p.cfg.DeadLetter.Send(ctx, string(b), 0)
			}
			if err == nil {
				t.count(func(s *Stats) { s.DeadLettered++ })
				t.log.LogAttrs(ctx, slog.LevelWarn, "poller: callback dead-lettered", append(requestAttrs(it.m),
					slog.String(fcadapter.LogKeyWebhookID, d.MessageID), slog.String("type", d.Event.Type),
					slog.String("reason", string(d.State)), slog.Int("attempts", len(d.Attempts)))...)
				continue
			}
			dlqFailed = true
			t.count(func(s *Stats) { s.WriteErrors++ })
			t.log.ErrorContext(ctx, "poller: dead-letter send failed; kept for the next tick",
				slog.String(fcadapter.LogKeyRequestID, it.m.RequestId), slog.String(fcadapter.LogKeyWebhookID, d.MessageID), fcadapter.LogError(err))
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
		dels    []string
		outs    []mns.Outgoing
		replace []*item
	)
	for _, it := range items {
		dlqFailed := t.settle(ctx, it, now)
		if it.m.Done() {
			dels = append(dels, it.msg.ReceiptHandle)
			t.count(func(s *Stats) { s.Deleted++ })
			continue
		}
		wake := it.m.NextWake(now, cfg.Backoff)
		if it.stale || dlqFailed {
			wake = max(wake, cfg.ErrorRetry)
		}
		body, err := it.m.Marshal()
		if err != nil || body == it.msg.Body {
			if err != nil {
				t.log.ErrorContext(ctx, "poller: encode tracking message", slog.String(fcadapter.LogKeyRequestID, it.m.RequestId), fcadapter.LogError(err))
			}
			if _, err := cfg.Tracking.ChangeVisibility(ctx, it.msg.ReceiptHandle, min(wake, maxVisibility)); err != nil {
				t.receiptFailed(ctx, "hide", it, err)
				continue
			}
			t.count(func(s *Stats) { s.Hidden++ })
			continue
		}
		outs = append(outs, mns.Outgoing{Body: body, Delay: min(wake, maxDelay)})
		replace = append(replace, it)
	}
	if len(outs) > 0 {
		res, err := t.sendBatch(ctx, outs)
		for i, it := range replace {
			if res == nil || res[i].Err != nil {
				// The old message stays and is redone after its
				// visibility timeout; events it told again carry the
				// same webhook-id.
				t.count(func(s *Stats) { s.WriteErrors++ })
				t.log.ErrorContext(ctx, "poller: replacement not sent; old message kept",
					slog.String(fcadapter.LogKeyRequestID, it.m.RequestId), slog.String(fcadapter.LogKeyMessageID, it.msg.ID),
					fcadapter.LogError(errors.Join(err, resErr(res, i))))
				continue
			}
			dels = append(dels, it.msg.ReceiptHandle)
			t.count(func(s *Stats) { s.Replaced++ })
		}
	}
	if len(dels) > 0 {
		if err := cfg.Tracking.DeleteBatch(ctx, dels); err != nil {
			t.deleteFailed(ctx, err)
		}
	}
}

// sendBatch sends outs, retrying for up to WriteRetry (mns.Retry) while
// the whole request fails — the queue service restarting. Partial failures
// are returned as they are: those messages come back after their
// visibility timeout.
func (t *tick) sendBatch(ctx context.Context, outs []mns.Outgoing) (res []mns.SendResult, err error) {
	err = mns.Retry{Window: t.p.cfg.WriteRetry, Now: t.p.cfg.Now}.Do(ctx, func(ctx context.Context) error {
		res, err = t.p.cfg.Tracking.SendBatch(ctx, outs)
		return err
	})
	return res, err
}

// requestAttrs are the log attributes that identify m's request.
func requestAttrs(m *tracking.Message) []slog.Attr {
	return []slog.Attr{slog.String(fcadapter.LogKeyRequestID, m.RequestId), slog.String(fcadapter.LogKeyClusterID, m.ClusterId),
		slog.String(fcadapter.LogKeyName, m.Name), slog.String(fcadapter.LogKeyNodepoolID, m.NodepoolId)}
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
	t.log.Log(ctx, lvl, "poller: delete failed", fcadapter.LogError(err))
}

func (t *tick) receiptFailed(ctx context.Context, op string, it *item, err error) {
	t.count(func(s *Stats) { s.WriteErrors++ })
	lvl := slog.LevelError
	if errors.Is(err, mns.ErrStaleReceipt) {
		lvl = slog.LevelWarn
	}
	t.log.Log(ctx, lvl, "poller: "+op+" failed", slog.String(fcadapter.LogKeyRequestID, it.m.RequestId),
		slog.String(fcadapter.LogKeyMessageID, it.msg.ID), fcadapter.LogError(err))
}
