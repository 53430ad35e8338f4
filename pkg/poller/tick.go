package poller

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ensnodepool/webhook/pkg/clock"
	"github.com/ensnodepool/webhook/pkg/deadletter"
	"github.com/ensnodepool/webhook/pkg/logattr"
	"github.com/ensnodepool/webhook/pkg/mns"
	"github.com/ensnodepool/webhook/pkg/tracking"
)

// tick is the state of one Tick call.
type tick struct {
	p          *Poller
	start      time.Time
	stopAt     time.Time // wall clock: no receive or attempt starts after it; attempts are cut at it
	watchUntil time.Time // wall clock: keep receiving while messages come due before it
	log        *slog.Logger

	clusters map[string]*cluster // latest read per cluster

	mu        sync.Mutex
	stats     Stats
	held      map[*item]struct{} // received, not yet written back
	hosts     map[string]*host
	latestDue time.Time // wall clock: latest wake-up of a message written back within the watch
	// deferredDue is the latest time a message deferred for a busy (not a
	// silent) host comes back within the budget: the tick goes on until
	// then, watching or not, so a burst to one receiver is not left for the
	// next timer event.
	deferredDue time.Time

	attemptCtx context.Context // ends at stopAt
	global     chan struct{}   // CallbackConcurrency attempts in flight
	pending    chan struct{}   // semaphore of items waiting for callbacks
	attempts   sync.WaitGroup
	finished   chan *item // items whose attempts are over, to write back in batches
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
		start:    start,
		stopAt:   start.Add(p.cfg.MaxTick),
		log:      p.cfg.Logger,
		clusters: map[string]*cluster{},
		held:     map[*item]struct{}{},
		hosts:    map[string]*host{},
		global:   make(chan struct{}, p.cfg.CallbackConcurrency),
		pending:  make(chan struct{}, p.cfg.MaxPending),
		finished: make(chan *item, p.cfg.MaxPending),
		stats:    Stats{Events: map[string]int{}},
	}
	if dl, ok := ctx.Deadline(); ok && dl.Add(-p.cfg.Reserve).Before(t.stopAt) {
		t.stopAt = dl.Add(-p.cfg.Reserve)
	}
	t.watchUntil = start.Add(p.cfg.Watch)
	if t.stopAt.Before(t.watchUntil) {
		t.watchUntil = t.stopAt
	}
	actx, cancelAttempts := context.WithDeadline(ctx, t.stopAt)
	defer cancelAttempts()
	t.attemptCtx = actx
	hbCtx, stopHeartbeats := context.WithCancel(ctx)
	hbDone := make(chan struct{})
	go func() { defer close(hbDone); t.heartbeats(hbCtx) }()

	wDone := make(chan struct{})
	go func() { defer close(wDone); t.writer(ctx) }()

	err := t.drain(ctx)
	t.attempts.Wait()
	close(t.finished)
	<-wDone
	stopHeartbeats()
	<-hbDone

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
		slog.Int("attempts", s.Attempts), slog.Int("delivered", s.Delivered), slog.Int("deferred", s.Deferred),
		slog.Int("deadLettered", s.DeadLettered), slog.Int("deleted", s.Deleted), slog.Int("replaced", s.Replaced),
		slog.Int("hidden", s.Hidden), slog.Int("heartbeats", s.Heartbeats), slog.Int("writeErrors", s.WriteErrors),
		slog.Bool("outOfBudget", s.OutOfBudget), logattr.Duration("duration", s.Duration), logattr.Error(err))
	return s, err
}

// drain receives and processes batches until the queue is empty (and
// nothing comes due within the watch), the budget is spent or the queue
// fails.
func (t *tick) drain(ctx context.Context) error {
	cfg := t.p.cfg
	empty := false // the last receive found nothing
	for {
		now := time.Now()
		if ctx.Err() != nil || !now.Before(t.stopAt) {
			t.count(func(s *Stats) { s.OutOfBudget = true })
			return nil
		}
		wait := max(cfg.ReceiveWait, 0) // MNS waits whole seconds: never clamped below one
		if left := t.watchUntil.Sub(now); cfg.Watch > 0 && wait > 0 && left > 0 && left < wait {
			// The watch's last moments: short polls, so that the tick ends
			// with the watch and does not overrun the next timer event
			// (which would be skipped).
			if empty {
				_ = clock.Sleep(ctx, min(200*time.Millisecond, left))
			}
			wait = 0
		}
		msgs, err := cfg.Tracking.Receive(ctx, cfg.BatchSize, wait)
		if err != nil {
			if ctx.Err() != nil {
				t.count(func(s *Stats) { s.OutOfBudget = true })
				return nil
			}
			return fmt.Errorf("%w: %w", ErrQueue, err)
		}
		empty = len(msgs) == 0
		if len(msgs) == 0 {
			if t.watching(time.Now()) {
				if wait <= 0 && !time.Now().Before(t.watchUntil) || cfg.ReceiveWait <= 0 {
					_ = clock.Sleep(ctx, min(200*time.Millisecond, time.Until(t.stopAt)))
				}
				continue
			}
			return nil
		}
		t.batch(ctx, msgs)
	}
}

// watching reports whether an empty receive at now should be followed by
// another: while messages are held (waiting for callback attempts, so the
// tick cannot end yet: it keeps reading and checking the others meanwhile),
// and within the watch while a message written back comes due before it
// ends (with a second's grace for the queue to show it).
func (t *tick) watching(now time.Time) bool {
	if !now.Before(t.stopAt) {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.held) > 0 || now.Before(t.deferredDue.Add(time.Second)) ||
		now.Before(t.watchUntil) && now.Before(t.latestDue.Add(time.Second))
}

// batch processes one received batch: parse, read clusters, decide, then
// write back at once the messages without due callbacks and hand the
// others to the delivery side, without waiting for it.
func (t *tick) batch(ctx context.Context, msgs []mns.Message) {
	cfg := t.p.cfg
	t.count(func(s *Stats) { s.Received += len(msgs) })
	items := make([]*item, 0, len(msgs))
	received := time.Now()
	for _, msg := range msgs {
		m, err := tracking.Parse([]byte(msg.Body))
		if err != nil {
			t.reject(ctx, msg, err)
			continue
		}
		it := &item{msg: msg, m: m, receipt: msg.ReceiptHandle, extended: received}
		items = append(items, it)
	}
	t.mu.Lock()
	for _, it := range items {
		t.held[it] = struct{}{}
	}
	t.mu.Unlock()
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
	// A full tick (MaxPending messages waiting for callbacks) makes the
	// batch wait for room, at most DeferWait in all: a moment of
	// backpressure instead of deferring a burst message by message.
	room, cancel := context.WithTimeout(ctx, t.p.cfg.DeferWait)
	defer cancel()
	for _, it := range work {
		t.dispatch(ctx, it, room.Done())
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
				slog.String(logattr.KeyClusterID, id), logattr.Error(c.err))
		case c.gone:
			t.log.WarnContext(ctx, "poller: cluster does not exist", slog.String(logattr.KeyClusterID, id))
		}
	}
}

// reject dead-letters an unparseable message and deletes it. If the
// dead-letter write fails the message stays, to be retried when it
// becomes visible again.
func (t *tick) reject(ctx context.Context, msg mns.Message, perr error) {
	cfg := t.p.cfg
	b, _ := json.Marshal(deadletter.NewTrackingRecord(msg.ID, perr, msg.Body, cfg.Now())) // plain strings and a time: cannot fail
	t.log.WarnContext(ctx, "poller: invalid tracking message dead-lettered",
		slog.String(logattr.KeyMessageID, msg.ID), logattr.Error(perr))
	if _, err := cfg.DeadLetter.Send(ctx, string(b), 0); err != nil {
		t.count(func(s *Stats) { s.WriteErrors++ })
		t.log.ErrorContext(ctx, "poller: dead-letter send failed; invalid message kept",
			slog.String(logattr.KeyMessageID, msg.ID), logattr.Error(err))
		return
	}
	t.count(func(s *Stats) { s.Invalid++; s.DeadLettered++ })
	if err := cfg.Tracking.DeleteBatch(ctx, []string{msg.ReceiptHandle}); err != nil {
		t.deleteFailed(ctx, err)
	}
}

// watchSlack is how far past the end of the watch a message may come due
// and still keep the watch going to its end: a pool checked every few
// seconds is still in flight, one whose next event is minutes away is not.
const watchSlack = 10 * time.Second

// due notes that a message written back comes due at at (wall clock): the
// watch goes on until then (or to its end) if it is due soon.
func (t *tick) due(at time.Time) {
	if !at.Before(t.watchUntil.Add(watchSlack)) {
		return
	}
	t.mu.Lock()
	if at.After(t.latestDue) {
		t.latestDue = at
	}
	t.mu.Unlock()
}
