// Package poller is the core of the poller function: on each timer tick it
// drains the due tracking messages, reads each cluster's node pools once,
// turns state changes into signed callbacks and writes every message back
// with its next wake-up time. With Config.Watch it keeps watching within
// the invocation: messages of pools still provisioning come due again a few
// seconds later (tracking.Backoff) and are checked again in the same tick,
// so a change is reported within seconds although the timer fires once a
// minute.
//
// One tick:
//
//  1. Receive up to 16 due tracking messages at a time until the queue is
//     empty — and, with Config.Watch, until Watch has passed and no
//     message written back comes due before then — or the time budget
//     (context deadline minus Config.Reserve, at most Config.MaxTick) is
//     spent. Every received message is held invisible by heartbeats
//     (ChangeMessageVisibility by Config.Visibility every Config.Heartbeat,
//     with the rotated receipt handle) until it is written back, so the
//     queue's visibility timeout can be short: after a crash a message is
//     back within it, while a slow but alive tick never has a message
//     redelivered under it.
//  2. Read the node pools of every cluster that a message of the batch
//     needs: once, and again only when the last read is not newer than the
//     message's last check (DescribeClusterNodePools, all pages). ENS calls
//     per pass are therefore Σ ceil(pools per cluster / PageSize), not one
//     per pool.
//  3. Decide per pool (decide → verdict, pure): active (State active,
//     ServingNodes = DesiredNodes, InitialNodes = 0), failed (State failed,
//     the pool no longer listed, or the cluster gone), timeout (past the
//     deadline; the pool is then still checked for Config.LateWatch, so a
//     late active or failed follows) — each produced once, through
//     tracking.Message.Tell — or check again later. A cluster that could
//     not be read produces no event.
//  4. Hand the due callback attempts to the delivery side and go on
//     receiving at once: reading and checking never wait for deliveries.
//     Attempts run at most Config.CallbackConcurrency at a time and at most
//     Config.PerHost per receiver host, and a host that is not answering
//     quickly holds at most Config.HostPending messages; what does not
//     fit is deferred, not
//     attempted: its message is written back with the attempt still due
//     (its place in the retry schedule unchanged) and comes back shortly,
//     or at the next tick when the host has stopped answering (PerHost
//     attempts in a row without a response). Attempts still running when
//     the budget ends are cut and not recorded (callback.Sender.Try), so a
//     dead receiver cannot hold the tick past its budget. Undeliverable
//     callbacks (gone, refused, exhausted) go to the dead-letter queue with
//     their history. A 410 ends every later event of the request to that
//     URL, and a delivered event drops pending earlier ones
//     (tracking.Message.Observe).
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
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/caller"
	"github.com/ensnodepool/webhook/pkg/clock"
	"github.com/ensnodepool/webhook/pkg/deadletter"
	"github.com/ensnodepool/webhook/pkg/logattr"
	"github.com/ensnodepool/webhook/pkg/mns"
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
	// counts due attempts not made (budget spent, or their host's share
	// full), left due for a later pass.
	Attempts, Delivered, Retrying, DeadLettered, Deferred int
	// Heartbeats counts visibility extensions of held messages.
	Heartbeats int
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

// item is one received, parsed tracking message on its way through a tick.
type item struct {
	msg   mns.Message
	m     *tracking.Message
	stale bool                 // cluster unreadable: wait at least ErrorRetry
	due   []*callback.Delivery // attempts to make this tick
	hosts []*host              // hosts whose HostPending this item counts against

	mu         sync.Mutex
	receipt    string    // current receipt handle (heartbeats rotate it)
	extended   time.Time // wall clock of the last visibility change
	settled    bool      // written back: heartbeats leave it alone
	deferUntil time.Time // wall clock: a due attempt was deferred until then
}

// host is one callback destination's share of a tick's deliveries.
type host struct {
	slots chan struct{} // PerHost attempts in flight
	held  int           // items waiting on this host (under tick.mu)
	// silent counts consecutive attempts that got no response (timeout,
	// connection refused or reset); PerHost of them mark the host as not
	// answering, and its deferred attempts wait for the next tick.
	silent atomic.Int32
	// quick is set while the host's last attempt got a response within
	// quickAnswer: such a host drains its share fast, and may hold more
	// than HostPending messages (up to the tick's MaxPending).
	quick atomic.Bool
}

// quickAnswer is how fast a host must answer to be held to the tick's
// limit only, not to HostPending.
const quickAnswer = time.Second

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

// hostOf returns the tick's share of the destination of d (scheme and
// host:port of its URL; an unparseable URL is its own destination, and
// the Sender refuses it).
func (t *tick) hostOf(d *callback.Delivery) *host {
	key := d.URL
	if u, err := url.Parse(d.URL); err == nil && u.Host != "" {
		key = u.Scheme + "://" + strings.ToLower(u.Host)
	}
	h := t.hosts[key]
	if h == nil {
		h = &host{slots: make(chan struct{}, t.p.cfg.PerHost)}
		t.hosts[key] = h
	}
	return h
}

// dispatch starts the due attempts of it without waiting for them. An
// item that finds the tick's pending set full until room is closed, or a due attempt whose slow host already holds HostPending
// items, is deferred instead.
func (t *tick) dispatch(ctx context.Context, it *item, room <-chan struct{}) {
	select {
	case t.pending <- struct{}{}:
	case <-room: // closed when the wait is over (or ctx ended)
		for range it.due {
			t.deferAttempt(it, nil)
		}
		t.writeBack(ctx, []*item{it})
		return
	}
	type job struct {
		d *callback.Delivery
		h *host
	}
	var jobs []job
	t.mu.Lock()
	for _, d := range it.due {
		h := t.hostOf(d)
		if h.held >= t.p.cfg.HostPending && !h.quick.Load() {
			t.mu.Unlock()
			t.deferAttempt(it, h)
			t.mu.Lock()
			continue
		}
		if !slices.Contains(it.hosts, h) {
			h.held++
			it.hosts = append(it.hosts, h)
		}
		jobs = append(jobs, job{d, h})
	}
	t.mu.Unlock()
	if len(jobs) == 0 {
		t.finished <- it
		return
	}
	// One request's events go out one after another, in the order they
	// were produced (creating before active), so a receiver never gets an
	// earlier event after a later one of the same check.
	t.attempts.Add(1)
	go func() {
		defer t.attempts.Done()
		for _, j := range jobs {
			t.attempt(it, j.d, j.h)
		}
		t.finished <- it
	}()
}

// attempt makes d's due attempt within h's share and the tick's, or defers
// it when no slot frees before the budget ends.
func (t *tick) attempt(it *item, d *callback.Delivery, h *host) {
	actx := t.attemptCtx
	select {
	case h.slots <- struct{}{}:
	case <-actx.Done():
		t.deferAttempt(it, h)
		return
	}
	defer func() { <-h.slots }()
	select {
	case t.global <- struct{}{}:
	case <-actx.Done():
		t.deferAttempt(it, h)
		return
	}
	defer func() { <-t.global }()
	started := time.Now()
	a, tried := t.p.cfg.Deliverer.Try(actx, d)
	if !tried {
		// Not due after all, or cut at the end of the budget: it keeps its
		// place in the schedule.
		if d.Due(t.p.cfg.Now()) {
			t.deferAttempt(it, h)
		}
		return
	}
	if a.Outcome == callback.Retry && a.Status == 0 {
		h.silent.Add(1)
	} else {
		h.silent.Store(0)
	}
	h.quick.Store(a.Status != 0 && time.Since(started) < quickAnswer)
	t.count(func(s *Stats) {
		s.Attempts++
		if a.Outcome == callback.Delivered {
			s.Delivered++
		} else if d.State == callback.Pending {
			s.Retrying++
		}
	})
}

// deferAttempt records that a due attempt of it was not made: its message
// comes back after DeferWait, or at the next tick when its host (nil:
// unknown) has stopped answering.
func (t *tick) deferAttempt(it *item, h *host) {
	until := time.Now().Add(t.p.cfg.DeferWait)
	if h != nil && int(h.silent.Load()) >= t.p.cfg.PerHost || !until.Before(t.stopAt) {
		until = t.stopAt.Add(time.Second)
	} else {
		t.mu.Lock()
		if until.After(t.deferredDue) {
			t.deferredDue = until
		}
		t.mu.Unlock()
	}
	it.mu.Lock()
	if until.After(it.deferUntil) {
		it.deferUntil = until
	}
	it.mu.Unlock()
	t.count(func(s *Stats) { s.Deferred++ })
}

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
