package poller

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/mns"
	"github.com/ensnodepool/webhook/pkg/nodepool"
	"github.com/ensnodepool/webhook/pkg/tracking"
)

// ErrConfig reports an invalid Config.
var ErrConfig = errors.New("poller: invalid configuration")

// ErrQueue reports that the tracking queue could not be read; the tick
// stopped early (what it had received was still processed and written back).
var ErrQueue = errors.New("poller: tracking queue unavailable")

// TrackingQueue is the tracking queue as the poller uses it. *mns.Queue
// implements it.
type TrackingQueue interface {
	// Receive returns up to n messages, waiting up to wait for the first.
	Receive(ctx context.Context, n int, wait time.Duration) ([]mns.Message, error)
	// SendBatch sends replacement messages, each visible after its Delay.
	// A request that fails as a whole is retried by the queue itself
	// (mns.Config.SendRetry); the error returned is final.
	SendBatch(ctx context.Context, msgs []mns.Outgoing) ([]mns.SendResult, error)
	// DeleteBatch deletes received messages by receipt handle.
	DeleteBatch(ctx context.Context, receipts []string) error
	// ChangeVisibility hides a received, unchanged message for in.
	ChangeVisibility(ctx context.Context, receipt string, in time.Duration) (string, error)
}

// Sender sends one message to a queue: the dead-letter queue, which
// receives the records of undeliverable callbacks and of unreadable
// tracking messages. *mns.Queue implements it, retrying a failure that may
// pass within mns.Config.SendRetry.
type Sender interface {
	Send(ctx context.Context, body string, delay time.Duration) (mns.SendResult, error)
}

// Deliverer makes the attempt a callback delivery is due for and records
// it. *callback.Deliverer implements it. The poller calls Try concurrently,
// within per-host and per-tick limits, with a context that ends when the
// tick's budget does; Try must not record an attempt cut by that context
// (and returns false for it), so the delivery keeps its place.
type Deliverer interface {
	Try(ctx context.Context, d *callback.Delivery) (callback.Attempt, bool)
}

// Config configures a Poller. Zero values take the defaults of withDefaults.
type Config struct {
	// Tracking is the tracking queue. Required.
	Tracking TrackingQueue
	// DeadLetter is the dead-letter queue. Required.
	DeadLetter Sender
	// Pools reads a cluster's node pools from ENS (every page);
	// *ens.Client implements it. Required.
	Pools nodepool.PoolReader
	// Deliverer delivers callbacks. Required.
	Deliverer Deliverer
	// WithCallers tells that CALLERS is set: a tracking message without a
	// Caller is then audited with no caller rather than as the simple
	// mode's "default".
	WithCallers bool

	// BatchSize is how many messages one Receive asks for; default and
	// maximum mns.MaxBatch (16).
	BatchSize int
	// ReceiveWait is each Receive's long-poll wait; default 1 s, so a tick
	// ends about a second after the queue runs dry. Negative means "the
	// queue's PollingWaitSeconds" (tests use queues where that is 0).
	ReceiveWait time.Duration
	// CallbackConcurrency bounds the callback attempts in flight; default 32.
	CallbackConcurrency int
	// PerHost bounds the attempts in flight to one receiver (scheme and
	// host:port), so a slow or dead receiver uses only its own share;
	// default 4. PerHost attempts in a row without a response mark the
	// host as not answering for the rest of the tick: its deferred
	// attempts wait for the next tick.
	PerHost int
	// MaxPending bounds the messages waiting for their callbacks (and so
	// the memory a tick holds); default 8 × CallbackConcurrency.
	MaxPending int
	// HostPending bounds the messages waiting on one host unless its last
	// attempt was answered within a second; default MaxPending / 4. A
	// message beyond it is deferred (see DeferWait).
	HostPending int
	// DeferWait is how soon a message whose attempt was deferred (its host
	// or the tick busy) comes back, the tick going on until then; default
	// 1 s. A host that is not answering, or a deferral past the budget,
	// waits for the next tick.
	DeferWait time.Duration
	// Watch is how long a tick keeps receiving once the queue runs dry,
	// while messages it wrote back come due before then (pools still
	// provisioning, callbacks to retry soon): a change is then reported
	// within seconds instead of at the next timer event. Default 0: the
	// tick ends when the queue is empty. functions/poller sets POLL_WATCH.
	Watch time.Duration
	// Visibility is how long each heartbeat hides a held message; it
	// should be the tracking queue's visibility timeout (30 s), which
	// bounds how long a crashed tick's messages stay hidden. Default 30 s.
	Visibility time.Duration
	// Heartbeat is how often held messages are hidden again; default
	// Visibility / 3.
	Heartbeat time.Duration
	// ClusterConcurrency bounds concurrent DescribeClusterNodePools reads
	// of different clusters; default 4 (the ENS client's limiter still
	// spaces the calls).
	ClusterConcurrency int
	// ClusterTimeout bounds reading one cluster (all pages, with the ENS
	// client's retries); default 20 s.
	ClusterTimeout time.Duration
	// Backoff is the adaptive check interval (tracking.Backoff defaults).
	Backoff tracking.Backoff
	// ErrorRetry is the least wait before a message whose cluster could not
	// be read, or whose dead-letter record could not be written, is tried
	// again; default 30 s.
	ErrorRetry time.Duration
	// VanishGrace is how long after CreatedAt a pool that was never seen in
	// DescribeClusterNodePools is assumed not yet listed rather than
	// vanished; default 2 min.
	VanishGrace time.Duration
	// DefaultDeadline applies to messages without a Deadline: CreatedAt +
	// DefaultDeadline; default 60 min.
	DefaultDeadline time.Duration
	// LateWatch is how long a pool is still checked after its
	// nodepool.timeout, so that a late nodepool.active (a pool that is
	// billed) or nodepool.failed still reaches the caller; default 24 h.
	LateWatch time.Duration
	// Reserve is the part of the invocation left when the tick stops
	// receiving and cuts the callback attempts still running (they stay
	// due): enough for the write-back; default 3 s.
	Reserve time.Duration
	// MaxTick caps how long a tick keeps receiving, so a tick ends before
	// the next timer event; default 55 s.
	MaxTick time.Duration
	// Now is the clock for domain time (deadlines, events, schedules);
	// default time.Now. The time budget is measured on the wall clock,
	// like the context deadline it derives from.
	Now func() time.Time
	// Logger receives one line per tick and warnings; nil discards.
	Logger *slog.Logger
}

// DefaultLateWatch is Config.LateWatch's default.
const DefaultLateWatch = 24 * time.Hour

// Limits of MNS (https://www.alibabacloud.com/help/en/mns/developer-reference/changemessagevisibility): visibility ≤ 12 h, delay ≤ 7 days.
const (
	maxVisibility = 12 * time.Hour
	maxDelay      = 7 * 24 * time.Hour
)

func (c Config) withDefaults() Config {
	c.BatchSize = cmp.Or(c.BatchSize, mns.MaxBatch)
	c.ReceiveWait = cmp.Or(c.ReceiveWait, time.Second)
	c.CallbackConcurrency = cmp.Or(c.CallbackConcurrency, 32)
	c.PerHost = cmp.Or(c.PerHost, 4)
	c.MaxPending = cmp.Or(c.MaxPending, 8*c.CallbackConcurrency)
	c.HostPending = cmp.Or(c.HostPending, max(c.MaxPending/4, 1))
	c.DeferWait = cmp.Or(c.DeferWait, time.Second)
	c.Visibility = cmp.Or(c.Visibility, 30*time.Second)
	c.Heartbeat = cmp.Or(c.Heartbeat, c.Visibility/3)
	c.ClusterConcurrency = cmp.Or(c.ClusterConcurrency, 4)
	c.ClusterTimeout = cmp.Or(c.ClusterTimeout, 20*time.Second)
	c.ErrorRetry = cmp.Or(c.ErrorRetry, 30*time.Second)
	c.VanishGrace = cmp.Or(c.VanishGrace, 2*time.Minute)
	c.DefaultDeadline = cmp.Or(c.DefaultDeadline, 60*time.Minute)
	c.LateWatch = cmp.Or(c.LateWatch, DefaultLateWatch)
	c.Reserve = cmp.Or(c.Reserve, 3*time.Second)
	c.MaxTick = cmp.Or(c.MaxTick, 55*time.Second)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Tracking == nil || c.DeadLetter == nil || c.Pools == nil || c.Deliverer == nil:
		return fmt.Errorf("%w: Tracking, DeadLetter, Pools and Deliverer are required", ErrConfig)
	case c.BatchSize < 1 || c.BatchSize > mns.MaxBatch:
		return fmt.Errorf("%w: BatchSize %d: want 1..%d", ErrConfig, c.BatchSize, mns.MaxBatch)
	case c.ReceiveWait > mns.MaxWait:
		return fmt.Errorf("%w: ReceiveWait %v: want ≤ %v", ErrConfig, c.ReceiveWait, mns.MaxWait)
	case c.CallbackConcurrency < 1 || c.MaxPending < 1 || c.ClusterConcurrency < 1 || c.PerHost < 1 || c.HostPending < 1:
		return fmt.Errorf("%w: CallbackConcurrency, PerHost, MaxPending, HostPending and ClusterConcurrency must be positive", ErrConfig)
	case c.ClusterTimeout < 0 || c.ErrorRetry < 0 || c.VanishGrace < 0 || c.DefaultDeadline < 0 || c.LateWatch < 0 || c.Reserve < 0 || c.MaxTick < 0 ||
		c.DeferWait < 0 || c.Watch < 0:
		return fmt.Errorf("%w: durations must not be negative", ErrConfig)
	case c.Heartbeat <= 0 || c.Heartbeat >= c.Visibility:
		return fmt.Errorf("%w: Heartbeat %v: want 0 < Heartbeat < Visibility (%v)", ErrConfig, c.Heartbeat, c.Visibility)
	}
	return nil
}
