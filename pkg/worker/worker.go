package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ensnodepool/webhook/pkg/admission"
	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/caller"
	"github.com/ensnodepool/webhook/pkg/ens"
	"github.com/ensnodepool/webhook/pkg/fcadapter"
	"github.com/ensnodepool/webhook/pkg/mns"
	"github.com/ensnodepool/webhook/pkg/nodepool"
	"github.com/ensnodepool/webhook/pkg/tracking"
)

// PoolCreator is the part of the ENS API the worker needs: it creates
// node pools and lists a cluster's pools (nodepool.PoolReader);
// *ens.Client implements it. Both methods are called concurrently. An
// error is permanent when it is an *ens.APIError that ens.IsRetryable
// rejects (other than ens.ErrUnauthorized); every other error is treated
// as transient.
type PoolCreator interface {
	nodepool.PoolReader
	// CreateClusterNodePool creates a node pool.
	CreateClusterNodePool(ctx context.Context, req *ens.CreateClusterNodePoolRequest) (*ens.CreateClusterNodePoolResponse, error)
}

// Sender sends one message to a queue, visible after delay. It is called
// concurrently. *mns.Queue implements it and retries a failure that may
// pass within its own window (mns.Config.SendRetry): an error is final.
type Sender interface {
	Send(ctx context.Context, body string, delay time.Duration) (mns.SendResult, error)
}

// Deliverer makes the attempt a callback delivery is due for and records it
// with its retry policy; *callback.Deliverer implements it. It is called
// concurrently, with a context bounded by Config.NotifyTimeout.
type Deliverer interface {
	Try(ctx context.Context, d *callback.Delivery) (callback.Attempt, bool)
}

// Config configures a Worker. Zero fields take the defaults of withDefaults.
type Config struct {
	// Pools is the ENS API. Required.
	Pools PoolCreator
	// Tracking, DeadLetter and Requests are the three queues. Required.
	Tracking, DeadLetter, Requests Sender
	// Deliverer makes the immediate callback attempt; nil leaves every
	// delivery to the poller.
	Deliverer Deliverer
	// Validator applies the request rules (the webhook's). Required.
	Validator *nodepool.Validator
	// Callers, when set (CALLERS), makes every envelope name its Caller,
	// whose policy is checked again before anything is created; nil is
	// simple mode.
	Callers *caller.Set
	// Sealer opens sealed passwords; nil rejects envelopes that carry one.
	Sealer *nodepool.Sealer
	// Seen remembers which request each recent RequestId stood for, to
	// refuse a reused Idempotency-Key with another body. Give every Worker
	// of a function instance the same one; default a new one per Worker.
	Seen *nodepool.Seen
	// PoolDeadline is how long a pool may take to become active, from its
	// creation (the tracking message's Deadline), and how long a request
	// may be re-queued, from its ReceivedAt; default 60 minutes.
	PoolDeadline time.Duration
	// Backoff is the poller's check schedule; the first tracking message
	// becomes visible after Backoff.First (default 10 s) or when its
	// pending callback is due, whichever is first.
	Backoff tracking.Backoff
	// RequeueDelay is how long a re-queued request stays invisible;
	// default 30 s.
	RequeueDelay time.Duration
	// NotifyTimeout bounds the immediate callback attempt; default 3 s.
	NotifyTimeout time.Duration
	// Concurrency bounds concurrent ENS calls; default 10 (the write limit
	// per second: with ~100 ms calls this keeps the limiter busy).
	Concurrency int
	// Reserve is the part of the invocation's time budget kept for
	// callbacks and queue writes: ENS calls stop Reserve (at most a third
	// of the time left) before the context's deadline; default 10 s.
	Reserve time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives one record per message; nil discards.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	c.PoolDeadline = cmp.Or(c.PoolDeadline, 60*time.Minute)
	c.Backoff.First = cmp.Or(c.Backoff.First, 10*time.Second)
	c.Backoff.Max = cmp.Or(c.Backoff.Max, 50*time.Second)
	c.RequeueDelay = cmp.Or(c.RequeueDelay, 30*time.Second)
	c.NotifyTimeout = cmp.Or(c.NotifyTimeout, 3*time.Second)
	c.Concurrency = cmp.Or(c.Concurrency, 10)
	c.Reserve = cmp.Or(c.Reserve, 10*time.Second)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Seen == nil {
		c.Seen = nodepool.NewSeen(0)
	}
	return c
}

// ErrConfig reports an invalid Config (New).
var ErrConfig = errors.New("worker: invalid configuration")

func (c Config) validate() error {
	var errs []error
	if c.Pools == nil {
		errs = append(errs, errors.New("Config.Pools is required"))
	}
	if c.Tracking == nil || c.DeadLetter == nil || c.Requests == nil {
		errs = append(errs, errors.New("Config.Tracking, DeadLetter and Requests are required"))
	}
	if c.Validator == nil {
		errs = append(errs, errors.New("Config.Validator is required"))
	}
	if c.PoolDeadline < 0 || c.RequeueDelay < 0 || c.NotifyTimeout < 0 || c.Reserve < 0 {
		errs = append(errs, errors.New("Config durations must not be negative"))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("Config.Concurrency %d: want ≥ 1", c.Concurrency))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
}

// Worker handles batches of request messages. It is safe for concurrent
// use, but the deployment runs one invocation at a time
// (reservedConcurrency 1): two concurrent batches could both create a pool
// for the same (ClusterId, Name).
type Worker struct {
	cfg Config
	// admission is the webhook's own Check (validation, the caller's
	// policy, a reused RequestId), run again on every queued envelope.
	admission *admission.Admission
}

// New returns a Worker for cfg.
func New(cfg Config) (*Worker, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	// No Logger: the worker writes its own audit record of each outcome.
	adm, err := admission.New(admission.Config{Validator: cfg.Validator, Keys: cfg.Seen, Now: cfg.Now})
	if err != nil {
		return nil, err
	}
	return &Worker{cfg: cfg, admission: adm}, nil
}

// Outcome is what became of one message.
type Outcome string

// Outcomes of a message.
const (
	// Created: a pool was created and is tracked.
	Created Outcome = "created"
	// Adopted: the pool already existed with the same spec and is tracked.
	Adopted Outcome = "adopted"
	// Duplicate: an earlier message of the batch had the same RequestId
	// and pool, and its result stands for this one.
	Duplicate Outcome = "duplicate"
	// Failed: a valid request failed permanently (API error, conflict,
	// deadline); nodepool.failed was produced and a dead letter written.
	Failed Outcome = "failed"
	// Rejected: the message was undecodable, of an unknown version or
	// invalid; it was dead-lettered (with nodepool.failed if possible).
	Rejected Outcome = "rejected"
	// Requeued: a transient failure; the envelope is back on the requests
	// queue.
	Requeued Outcome = "requeued"
	// Lost: nothing could be written for it; HandleBatch returned an error.
	Lost Outcome = "lost"
)

// Item is the result of one message.
type Item struct {
	// Index is the message's position in the batch.
	Index int
	// MessageID is the MNS message id.
	MessageID string
	// RequestId, ClusterId and Name identify the request (when decodable).
	RequestId, ClusterId, Name string
	// NodepoolId is the created or adopted pool.
	NodepoolId string `json:",omitempty"`
	// Outcome is what happened.
	Outcome Outcome
	// Code and Reason explain Failed, Rejected and Requeued.
	Code   string `json:",omitempty"`
	Reason string `json:",omitempty"`
	// Notified reports that the immediate callback attempt was delivered.
	Notified bool `json:",omitempty"`
}

// Result summarises one batch.
type Result struct {
	// Items has one entry per message, in batch order.
	Items []Item
	// Describes counts DescribeClusterNodePools passes (one per cluster of
	// the batch at most; each pass reads all pages).
	Describes int
	// Clusters is the number of distinct clusters among valid requests.
	Clusters int
}

// Count returns how many items had outcome o.
func (r Result) Count(o Outcome) int {
	n := 0
	for _, it := range r.Items {
		if it.Outcome == o {
			n++
		}
	}
	return n
}

// Error codes of failures the worker decides itself (ENS failures carry
// the API's code); the list of every code is callback.Codes.
const (
	CodeConflict             = callback.CodeConflict
	CodeInvalidRequest       = callback.CodeInvalidRequest
	CodeUnsupportedVersion   = callback.CodeUnsupportedVersion
	CodeUndecodable          = callback.CodeUndecodable
	CodeDeadlineExceeded     = callback.CodeDeadlineExceeded
	CodeUnknownSealKey       = callback.CodeUnknownSealKey
	CodeIdempotencyKeyReused = callback.CodeIdempotencyKeyReused
	CodeClusterNotFound      = callback.CodeClusterNotFound
	// CodeForbidden: the envelope names no caller, an unknown one, or a
	// request outside its caller's policy (CALLERS).
	CodeForbidden = callback.CodeForbidden
)

// DeadLetterUnauthenticated is the dead-letter Code of a message whose
// caller could not be established with CALLERS set: a version-1 envelope
// naming a caller, a signature that does not verify with that caller's
// secrets, a signed envelope naming another caller inside. It is never in
// an event (so not in callback.Codes): nothing of such a message is told
// to anyone.
const DeadLetterUnauthenticated = "Unauthenticated"

// item is the working state of one message. Its outcome is out.Outcome:
// empty until a verdict settles it.
type item struct {
	msg fcadapter.QueueMessage
	env *nodepool.Envelope
	// who is the caller the message is authenticated as (CALLERS); nil in
	// simple mode and for every message no caller vouches for.
	who *caller.Caller
	req *nodepool.Request // unsealed and valid; never logged
	out Item
	// callback is the request's callback if it is usable (else zero): its
	// URL and, for ChatOps requests, the chat format and expiry.
	callback nodepool.Callback
	pool     *ens.NodePool // created or adopted
}

// verdict is what became of one message before anything is written, as the
// poller's decide returns a verdict: an outcome with its code and reason,
// the pool for Created and Adopted, or a transient failure that re-queues
// the message until its deadline. The zero verdict means "admitted, not
// decided yet".
type verdict struct {
	outcome      Outcome
	code, reason string
	pool         *ens.NodePool
	transient    error
}

// rejected is the verdict on a message that cannot be worked.
func rejected(code, reason string) verdict {
	return verdict{outcome: Rejected, code: code, reason: reason}
}

// failed is the verdict on a valid request that failed permanently.
func failed(code, reason string) verdict { return verdict{outcome: Failed, code: code, reason: reason} }

// HandlePayload decodes an EventBridge MNS trigger payload
// (fcadapter.Decode: one CloudEvent, an array of them, an array of JSON
// strings; bodies plain or base64) and handles the batch. A payload of none
// of these shapes is dead-lettered whole.
func (w *Worker) HandlePayload(ctx context.Context, payload []byte) (Result, error) {
	msgs, err := fcadapter.Decode(payload)
	if err == nil {
		return w.HandleBatch(ctx, msgs)
	}
	it := &item{out: Item{Outcome: Rejected, Code: CodeUndecodable, Reason: err.Error()}}
	dl := newDeadLetter(CodeUndecodable, err.Error(), it, string(payload), w.cfg.Now(), w.cfg.Sealer)
	w.log(ctx, it)
	if err := w.deadLetter(ctx, dl); err != nil {
		return Result{Items: []Item{it.out}}, fmt.Errorf("worker: dead-letter a malformed payload: %w", err)
	}
	return Result{Items: []Item{it.out}}, nil
}

// HandleBatch works one batch (see the package documentation) in five
// phases: admit every message, group the valid requests by pool, describe
// each cluster once, decide each pool's requests in order, and write every
// outcome out. It returns an error only when some message's outcome could
// not be written anywhere; the trigger should then redeliver the whole
// batch, which is safe.
func (w *Worker) HandleBatch(ctx context.Context, msgs []fcadapter.QueueMessage) (Result, error) {
	now := w.cfg.Now()
	items := make([]*item, len(msgs))
	for i, m := range msgs {
		items[i] = &item{msg: m, out: Item{Index: i, MessageID: m.MessageID}}
		w.settle(items[i], w.admit(ctx, items[i]), now)
	}
	work, cancel := w.workContext(ctx)
	defer cancel()
	groups := groupByPool(items)
	described := w.describe(work, groups)
	errs := w.decideAndFinish(ctx, work, groups, described, items, now)

	res := Result{Items: make([]Item, len(items)), Describes: len(described), Clusters: len(described)}
	for i, it := range items {
		res.Items[i] = it.out
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("worker: %d of %d messages could not be written anywhere; redeliver the batch: %w",
			len(errs), len(items), errors.Join(errs...))
	}
	return res, nil
}

// workContext bounds the ENS calls: they end Reserve before the
// invocation's deadline — at most a third of the time left, so that a
// short function timeout still leaves time to work.
func (w *Worker) workContext(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return ctx, func() {}
	}
	reserve := min(w.cfg.Reserve, time.Until(dl)/3)
	return context.WithDeadline(ctx, dl.Add(-reserve))
}
