package worker

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/caller"
	"github.com/ensnodepool/webhook/pkg/ens"
	"github.com/ensnodepool/webhook/pkg/fcadapter"
	"github.com/ensnodepool/webhook/pkg/mns"
	"github.com/ensnodepool/webhook/pkg/nodepool"
	"github.com/ensnodepool/webhook/pkg/tracking"
)

// Pools is the part of the ENS API the worker needs; *ens.Client
// implements it. Both methods are called concurrently. An error is
// permanent when it is an *ens.APIError that ens.IsRetryable rejects (other
// than ens.ErrUnauthorized); every other error is treated as transient.
type Pools interface {
	// CreateClusterNodePool creates a node pool.
	CreateClusterNodePool(ctx context.Context, req *ens.CreateClusterNodePoolRequest) (*ens.CreateClusterNodePoolResponse, error)
	// DescribeClusterNodePools returns every pool of a cluster (all pages).
	DescribeClusterNodePools(ctx context.Context, clusterID string) ([]ens.NodePool, error)
}

// Sender sends one message to a queue, visible after delay. It is called
// concurrently. *mns.Queue implements it.
type Sender interface {
	Send(ctx context.Context, body string, delay time.Duration) (mns.SendResult, error)
}

// Notifier makes the attempt a callback delivery is due for and records it
// with its retry policy; *callback.Sender implements it. It is called
// concurrently, with a context bounded by Config.NotifyTimeout.
type Notifier interface {
	Try(ctx context.Context, d *callback.Delivery) (callback.Attempt, bool)
}

// Config configures a Worker. Zero fields take the defaults of withDefaults.
type Config struct {
	// Pools is the ENS API. Required.
	Pools Pools
	// Tracking, DeadLetter and Requests are the three queues. Required.
	Tracking, DeadLetter, Requests Sender
	// Notifier makes the immediate callback attempt; nil leaves every
	// delivery to the poller.
	Notifier Notifier
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
	// WriteRetry is how long a failed queue write (tracking, requeue, dead
	// letter) is retried, with backoff, before the outcome counts as not
	// written: a brief MNS outage then costs seconds, not the requests
	// queue's visibility timeout. Default 8 s; within the context's deadline.
	WriteRetry time.Duration
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
	c.WriteRetry = cmp.Or(c.WriteRetry, 8*time.Second)
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

func (c Config) validate() error {
	var errs []error
	if c.Pools == nil {
		errs = append(errs, errors.New("worker: Config.Pools is required"))
	}
	if c.Tracking == nil || c.DeadLetter == nil || c.Requests == nil {
		errs = append(errs, errors.New("worker: Config.Tracking, DeadLetter and Requests are required"))
	}
	if c.Validator == nil {
		errs = append(errs, errors.New("worker: Config.Validator is required"))
	}
	if c.PoolDeadline < 0 || c.RequeueDelay < 0 || c.NotifyTimeout < 0 || c.Reserve < 0 || c.WriteRetry < 0 {
		errs = append(errs, errors.New("worker: Config durations must not be negative"))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("worker: Config.Concurrency %d: want ≥ 1", c.Concurrency))
	}
	return errors.Join(errs...)
}

// Worker handles batches of request messages. It is safe for concurrent
// use, but the deployment runs one invocation at a time
// (reservedConcurrency 1): two concurrent batches could both create a pool
// for the same (ClusterId, Name).
type Worker struct {
	cfg Config
}

// New returns a Worker for cfg.
func New(cfg Config) (*Worker, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Worker{cfg: cfg}, nil
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

// item is the working state of one message. Its outcome is out.Outcome:
// empty until a verdict settles it.
type item struct {
	msg fcadapter.QueueMessage
	env *nodepool.Envelope
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
		w.settle(items[i], w.admit(items[i]), now)
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

// group is the undecided valid requests for one (ClusterId, Name), in
// batch order.
type group struct {
	cluster, name string
	items         []*item
}

// groupByPool groups the undecided valid requests by pool, in batch order.
func groupByPool(items []*item) []*group {
	var groups []*group
	index := map[[2]string]*group{}
	for _, it := range items {
		if it.out.Outcome != "" {
			continue
		}
		k := [2]string{it.req.ClusterId, it.req.NodepoolInfo.Name}
		g := index[k]
		if g == nil {
			g = &group{cluster: k[0], name: k[1]}
			index[k] = g
			groups = append(groups, g)
		}
		g.items = append(g.items, it)
	}
	return groups
}

// described is one cluster's pools, or the error that reading them gave.
type described struct {
	pools []ens.NodePool
	err   error
}

// describe reads the pools of every cluster of groups, once per cluster,
// at most Concurrency at a time.
func (w *Worker) describe(ctx context.Context, groups []*group) map[string]*described {
	out := map[string]*described{}
	sem := make(chan struct{}, w.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, g := range groups {
		if out[g.cluster] != nil {
			continue
		}
		d := &described{}
		out[g.cluster] = d
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			d.pools, d.err = w.cfg.Pools.DescribeClusterNodePools(ctx, g.cluster)
		})
	}
	wg.Wait()
	return out
}

// decideAndFinish decides each pool's requests in order, pools
// concurrently, and writes out the outcome of every message (callbacks,
// queues) as soon as it is known. It returns the errors of outcomes that
// could not be written anywhere.
func (w *Worker) decideAndFinish(ctx, work context.Context, groups []*group, desc map[string]*described, items []*item, now time.Time) []error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, w.cfg.Concurrency)
	)
	finish := func(it *item) {
		if err := w.finish(ctx, it, now); err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	}
	for _, g := range groups {
		d := desc[g.cluster]
		wg.Go(func() {
			w.workPool(work, sem, g, d, now)
			for _, it := range g.items {
				finish(it)
			}
		})
	}
	for _, it := range items {
		if it.req == nil { // settled by admit: rejected, re-queued or failed
			wg.Go(func() { finish(it) })
		}
	}
	wg.Wait()
	return errs
}

// admit decodes, unseals and validates one message. It sets it.env when
// the envelope parses and it.req when the request is valid, and returns
// the zero verdict then; otherwise the message is rejected (a sealing key
// this build lacks included), or failed for a RequestId already used with
// another request.
func (w *Worker) admit(it *item) verdict {
	if it.msg.Err != nil {
		return rejected(CodeUndecodable, it.msg.Err.Error())
	}
	if !json.Valid([]byte(it.msg.Body)) {
		return rejected(CodeUndecodable, "the message body is not JSON")
	}
	env, err := nodepool.Parse([]byte(it.msg.Body))
	if err != nil {
		var uv *nodepool.UnsupportedVersionError
		switch {
		case errors.As(err, &uv):
			return rejected(CodeUnsupportedVersion, err.Error())
		case errors.Is(err, nodepool.ErrInvalid):
			w.salvage(it)
			reason := err.Error()
			if hasClearPassword(err) {
				reason += " (a queue message carries the password sealed: build it with go run ./scripts/enqueue)"
			}
			return rejected(CodeInvalidRequest, reason)
		}
		return rejected(CodeUndecodable, err.Error())
	}
	it.env = env
	it.out.RequestId, it.out.ClusterId, it.out.Name = env.RequestId, env.Request.ClusterId, env.Request.NodepoolInfo.Name
	it.callback = w.usableCallback(env.Request.Callback)
	req, err := env.Open(w.cfg.Sealer)
	switch {
	case errors.Is(err, nodepool.ErrUnknownKey):
		// No retry can open it: SEAL_KEYS is read at start-up, and the
		// rotation order (docs/operations.md, "Queue automation") gives every function a new key before
		// the webhook seals with it.
		return rejected(CodeUnknownSealKey, "SealedPassword: "+err.Error()+
			": SEAL_KEYS of the functions does not hold it (add the key to every function before sealing with it)")
	case err != nil:
		return rejected(CodeInvalidRequest, "SealedPassword: "+err.Error())
	}
	if err := w.cfg.Validator.Validate(req); err != nil {
		return rejected(CodeInvalidRequest, err.Error())
	}
	if w.cfg.Callers != nil {
		c, ok := w.cfg.Callers.Lookup(env.Caller)
		switch {
		case env.Caller == "":
			return rejected(CodeForbidden, "the envelope names no Caller, and CALLERS is set: every envelope names its caller (scripts/enqueue -caller)")
		case !ok:
			return rejected(CodeForbidden, "Caller "+strconv.Quote(env.Caller)+" is not in CALLERS")
		}
		if err := c.Check(req); err != nil {
			return rejected(CodeForbidden, err.Error())
		}
	}
	// A RequestId stands for one request: the same Idempotency-Key (or
	// webhook-id) with another body is refused, not merged into the first.
	digest := nodepool.Digest(req)
	if w.cfg.Seen.Conflicts(env.RequestId, digest) {
		return failed(CodeIdempotencyKeyReused, "RequestId "+env.RequestId+" was already used for a different request "+
			"(the same Idempotency-Key or webhook-id with another body); send a new key for a new or corrected request")
	}
	w.cfg.Seen.Record(env.RequestId, digest)
	it.req = req
	return verdict{}
}

// hasClearPassword reports whether a Parse error is about a clear password.
func hasClearPassword(err error) bool {
	var ve *nodepool.ValidationError
	if errors.As(err, &ve) {
		for _, f := range ve.Fields {
			if f.Field == "Request.ScalingGroup.Password" {
				return true
			}
		}
	}
	return false
}

// salvage reads what it can from an envelope that failed the strict
// decoding, so the failure can still be reported to its callback.
func (w *Worker) salvage(it *item) {
	var loose struct {
		RequestId string
		Request   struct {
			ClusterId    string
			NodepoolInfo struct{ Name string }
			Callback     *nodepool.Callback
		}
	}
	if json.Unmarshal([]byte(it.msg.Body), &loose) != nil {
		return
	}
	it.out.RequestId, it.out.ClusterId, it.out.Name = loose.RequestId, loose.Request.ClusterId, loose.Request.NodepoolInfo.Name
	if w.cfg.Validator.ValidatePoolKey(it.out.ClusterId, it.out.Name) != nil || !validRequestID(it.out.RequestId) {
		return // not enough to identify the request to its caller
	}
	it.callback = w.usableCallback(loose.Request.Callback)
}

func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// usableCallback returns *cb if it passes the webhook's callback rules
// (URL, and the chat format of a ChatOps request), else the zero Callback.
func (w *Worker) usableCallback(cb *nodepool.Callback) nodepool.Callback {
	if cb == nil || cb.Url == "" {
		return nodepool.Callback{}
	}
	err := w.cfg.Validator.Validate(&nodepool.Request{Callback: cb})
	var ve *nodepool.ValidationError
	if !errors.As(err, &ve) {
		return *cb
	}
	for _, f := range ve.Fields {
		if strings.HasPrefix(f.Field, "Callback") {
			return nodepool.Callback{}
		}
	}
	return *cb
}

// workPool decides the messages of one (ClusterId, Name) in order.
func (w *Worker) workPool(ctx context.Context, sem chan struct{}, g *group, d *described, now time.Time) {
	var same []ens.NodePool
	for _, p := range d.pools {
		if p.NodepoolInfo.Name == g.name {
			same = append(same, p)
		}
	}
	var (
		unsure error           // a create whose result is unknown: later ones must not create
		done   map[string]bool // RequestIds already tracked in this batch
	)
	for _, it := range g.items {
		var v verdict
		switch {
		case d.err != nil && errors.Is(d.err, ens.ErrNotFound):
			// DescribeClusterNodePools names only the cluster: the same
			// code as the poller's when a tracked pool's cluster goes.
			v = failed(CodeClusterNotFound, fmt.Sprintf("cluster %s does not exist", it.req.ClusterId))
		case d.err != nil:
			v = classify(d.err)
		case unsure != nil:
			v = verdict{transient: unsure}
		case done[it.env.RequestId]:
			v = verdict{outcome: Duplicate}
		default:
			v = w.decide(ctx, sem, it.req, &same)
			unsure = v.transient
		}
		w.settle(it, v, now)
		if it.out.Outcome == Created || it.out.Outcome == Adopted {
			if done == nil {
				done = map[string]bool{}
			}
			done[it.env.RequestId] = true
		}
	}
}

// decide adopts, refuses or creates the pool of one valid request; same
// holds the pools of that name, and a created pool is added to it.
func (w *Worker) decide(ctx context.Context, sem chan struct{}, req *nodepool.Request, same *[]ens.NodePool) verdict {
	var diffs []string
	for i := range *same {
		p := &(*same)[i]
		d := nodepool.SpecDiff(req, p)
		if len(d) == 0 {
			return verdict{outcome: Adopted, pool: p}
		}
		diffs = append(diffs, p.NodepoolInfo.NodepoolId+" differs in "+strings.Join(d, ", "))
	}
	if len(diffs) > 0 {
		return failed(CodeConflict, fmt.Sprintf("node pool %q already exists in cluster %s with a different spec (%s)",
			req.NodepoolInfo.Name, req.ClusterId, strings.Join(diffs, "; ")))
	}
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return verdict{transient: ctx.Err()}
	}
	resp, err := w.cfg.Pools.CreateClusterNodePool(ctx, req.ENS())
	<-sem
	if err != nil {
		return classify(err)
	}
	if resp.Nodepool.NodepoolInfo.NodepoolId == "" {
		// ENS answered without an id: treat the result as unknown; the
		// re-queued message adopts the pool from the Describe.
		return verdict{transient: errors.New("worker: CreateClusterNodePool answered without a NodepoolId")}
	}
	// Record the pool as requested (the create response may not echo the
	// spec), so a later message for the same name compares against it.
	spec := req.ENS()
	p := ens.NodePool{
		ClusterId: req.ClusterId,
		NodepoolInfo: ens.NodepoolInfo{Name: req.NodepoolInfo.Name, NodepoolId: resp.Nodepool.NodepoolInfo.NodepoolId,
			EnsRegionId: resp.Nodepool.NodepoolInfo.EnsRegionId},
		ScalingGroup:     *spec.ScalingGroup,
		KubernetesConfig: spec.KubernetesConfig,
		Status:           resp.Nodepool.Status,
	}
	if p.Status.DesiredNodes == 0 {
		p.Status.DesiredNodes = spec.ScalingGroup.DesiredSize // ENS may not echo it
	}
	p.ScalingGroup.Password = ""
	*same = append(*same, p)
	return verdict{outcome: Created, pool: &(*same)[len(*same)-1]}
}

// classify turns an ENS error into a permanent failure or a transient one.
func classify(err error) verdict {
	if ae, ok := ens.AsAPIError(err); ok && !ens.IsRetryable(err) && !errors.Is(err, ens.ErrUnauthorized) {
		return failed(ae.Code, ae.Message)
	}
	return verdict{transient: err}
}

// settle records v on it. A transient failure re-queues the message, or
// fails it once its request is past the deadline.
func (w *Worker) settle(it *item, v verdict, now time.Time) {
	if v.transient != nil {
		age := now.Sub(it.env.ReceivedAt)
		if age <= w.cfg.PoolDeadline {
			v = verdict{outcome: Requeued, code: errorCode(v.transient), reason: v.transient.Error()}
		} else {
			v = failed(cmp.Or(errorCode(v.transient), CodeDeadlineExceeded),
				fmt.Sprintf("gave up after %s (pool deadline %s): %v", age.Round(time.Second), w.cfg.PoolDeadline, v.transient))
		}
	}
	it.out.Outcome, it.out.Code, it.out.Reason = v.outcome, v.code, it.scrub(v.reason)
	if v.pool != nil {
		it.pool, it.out.NodepoolId = v.pool, v.pool.NodepoolInfo.NodepoolId
	}
}

func errorCode(err error) string {
	if ae, ok := ens.AsAPIError(err); ok {
		return ae.Code
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return CodeDeadlineExceeded
	}
	return ""
}

// errorInfo is the failure as a callback event reports it.
func (it *item) errorInfo() *callback.ErrorInfo {
	return &callback.ErrorInfo{Code: it.out.Code, Message: it.out.Reason}
}

// scrub masks the request's password in text that comes from elsewhere
// (an ENS error message may quote the parameters it refused, a transport
// error the URL it called), in the forms it can take there: as is,
// JSON-escaped, URL-encoded.
func (it *item) scrub(s string) string {
	pw := ""
	if it.req != nil {
		pw = it.req.ScalingGroup.Password
	}
	if pw == "" {
		return s
	}
	forms := []string{pw}
	for _, html := range []bool{true, false} { // JSON encoders differ on <, >, &
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		_ = enc.Encode(pw) // a string always encodes
		j := strings.TrimSuffix(b.String(), "\n")
		forms = append(forms, j[1:len(j)-1])
	}
	for _, f := range forms[:3] {
		forms = append(forms, url.QueryEscape(f), url.PathEscape(f))
	}
	for _, f := range forms {
		s = strings.ReplaceAll(s, f, nodepool.Mask)
	}
	return s
}

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
			slog.String(fcadapter.LogKeyRequestID, it.out.RequestId), slog.String(fcadapter.LogKeyMessageID, it.out.MessageID),
			fcadapter.LogError(err))
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
	if w.cfg.Notifier == nil || len(m.Deliveries) == 0 {
		return
	}
	d := &m.Deliveries[len(m.Deliveries)-1]
	nctx, cancel := context.WithTimeout(ctx, w.cfg.NotifyTimeout)
	w.cfg.Notifier.Try(nctx, d)
	cancel()
	m.Observe() // a 410 marks the URL gone for the poller's later events
	switch {
	case d.State == callback.StateDelivered:
		it.out.Notified = true
		w.audit(ctx, it, caller.ActionDeliver, caller.DecisionDelivered, ev.Type, caller.SourceCallback)
	case d.Undeliverable():
		if err := w.deadLetter(ctx, d.DeadLetter(now)); err != nil {
			return // the poller finds it terminal in the tracking message
		}
		w.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "worker: callback dead-lettered",
			slog.String(fcadapter.LogKeyRequestID, m.RequestId), slog.String(fcadapter.LogKeyClusterID, m.ClusterId),
			slog.String(fcadapter.LogKeyName, m.Name), slog.String(fcadapter.LogKeyWebhookID, d.MessageID),
			slog.String("type", d.Event.Type), slog.String("reason", string(d.State)))
		w.audit(ctx, it, caller.ActionDeliver, caller.DecisionDeadLettered, ev.Type+": "+string(d.State), caller.SourceCallback)
	default:
		return
	}
	m.Deliveries = m.Deliveries[:len(m.Deliveries)-1]
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

// send puts body on s, retrying a failed write for up to WriteRetry
// (mns.Retry), never past ctx.
func (w *Worker) send(ctx context.Context, s Sender, body string, delay time.Duration) error {
	return mns.Retry{Window: w.cfg.WriteRetry, Now: w.cfg.Now}.Do(ctx, func(ctx context.Context) error {
		_, err := s.Send(ctx, body, delay)
		return err
	})
}

// callerID is the caller the item's events belong to: the envelope's
// Caller once CALLERS accepted it, else "" (the shared callback secret).
func (it *item) callerID() string {
	if it.env == nil || it.out.Code == CodeForbidden {
		return ""
	}
	return it.env.Caller
}

// audit writes one audit record about it.
func (w *Worker) audit(ctx context.Context, it *item, action, decision, reason, source string) {
	who := caller.SimpleCaller
	if w.cfg.Callers != nil {
		who = ""
	}
	if it.env != nil && it.env.Caller != "" {
		who = it.env.Caller
	}
	caller.Audit(ctx, w.cfg.Logger, caller.Record{Caller: who, Source: source, Action: action,
		ClusterId: it.out.ClusterId, Name: it.out.Name, RequestId: it.out.RequestId, Decision: decision, Reason: reason})
}

// auditSource names where the item's request came from: api, a chat
// platform, or queue (and any other envelope Source as written).
func auditSource(it *item) string {
	if it.env == nil {
		return caller.SourceQueue
	}
	switch it.env.Source {
	case nodepool.SourceWebhook:
		return caller.SourceAPI
	case nodepool.SourceChatOps:
		return cmp.Or(it.callback.Format, nodepool.SourceChatOps)
	}
	return it.env.Source
}

// auditOutcome writes the audit record of a message's outcome (created,
// adopted, conflict, denied, failed); re-queued and duplicate messages
// are not decisions yet.
func (w *Worker) auditOutcome(ctx context.Context, it *item) {
	var decision string
	switch it.out.Outcome {
	case Created:
		decision = caller.DecisionCreated
	case Adopted:
		decision = caller.DecisionAdopted
	case Failed, Rejected, Lost:
		switch it.out.Code {
		case CodeConflict:
			decision = caller.DecisionConflict
		case CodeForbidden:
			decision = caller.DecisionDenied
		default:
			decision = caller.DecisionFailed
		}
	default:
		return
	}
	reason := it.out.Reason
	if it.out.Code != "" && it.out.Code != CodeForbidden {
		reason = it.out.Code + ": " + reason
	}
	w.audit(ctx, it, caller.ActionCreate, decision, reason, auditSource(it))
}

// log writes one record per message, named after its outcome ("worker:
// created", "worker: adopted", ...): INFO for a state change that went
// well, WARN for a failure, a rejection or a re-queue, ERROR for a lost
// outcome. Never a body or a password.
func (w *Worker) log(ctx context.Context, it *item) {
	w.auditOutcome(ctx, it)
	level := slog.LevelInfo
	switch it.out.Outcome {
	case Failed, Rejected, Requeued:
		level = slog.LevelWarn
	case Lost:
		level = slog.LevelError
	}
	w.cfg.Logger.LogAttrs(ctx, level, "worker: "+string(it.out.Outcome),
		slog.String("outcome", string(it.out.Outcome)),
		slog.String(fcadapter.LogKeyRequestID, it.out.RequestId),
		slog.String(fcadapter.LogKeyMessageID, it.out.MessageID),
		slog.String(fcadapter.LogKeyClusterID, it.out.ClusterId),
		slog.String(fcadapter.LogKeyName, it.out.Name),
		slog.String(fcadapter.LogKeyNodepoolID, it.out.NodepoolId),
		slog.String("code", it.out.Code),
		slog.String("reason", it.out.Reason),
		slog.Bool("notified", it.out.Notified))
}
