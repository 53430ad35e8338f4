// Package admission decides whether a node-pool request is accepted, in
// one place for every front door. The JSON API (pkg/intake) and the chat
// commands (pkg/chatops) submit through it; the worker's second look at a
// queued request needs only its Check, and a dry run (DryRun) is Check and
// a look at what the worker would find.
//
// A front door reads and authenticates a request: it knows the decoded
// request, its caller (pkg/caller; nil in simple mode) and its RequestId,
// and hands them over as a Request. Admission then
//
//  1. validates the request (pkg/nodepool's rules),
//  2. keeps it inside its caller's policy (caller.Caller.Check),
//  3. refuses a RequestId that already stands for another request (Keys),
//
// which is Check: it changes nothing but writes the audit record of a
// refusal; and
//
//  4. puts the request on the requests queue (nodepool.Submit) and
//     remembers what its RequestId stands for,
//
// which is Submit. Admit is Check then Submit. DryRun is Check, then the
// worker's rule (nodepool.Find) applied to what ENS describes now: it
// queues, remembers and creates nothing. Every decision is one audit
// record (caller.Audit); an acceptance is also one INFO log record.
//
// # Errors
//
// A refusal is an *Error whose Code the front door turns into its answer
// (the JSON API's table is pkg/intake/problem.go): CodeInvalid,
// CodeForbidden, CodeKeyReused or CodeUnavailable, and for a dry run
// CodeClusterNotFound. It wraps its cause (a
// *nodepool.ValidationError, a *caller.DeniedError, the queue's error), so
// errors.As finds the fields and the rule to show. Any other error is a
// fault of this service (an envelope that could not be built).
package admission

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ensnodepool/webhook/pkg/caller"
	"github.com/ensnodepool/webhook/pkg/logattr"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// Keys remembers which request each RequestId stands for (by
// nodepool.Digest), so that an Idempotency-Key reused with another body is
// refused instead of being taken for a retry of the first. *nodepool.Seen
// implements it in one process's memory. It must be safe for concurrent
// use.
type Keys interface {
	// Conflicts reports whether requestID already stands for a request
	// other than digest.
	Conflicts(requestID, digest string) bool
	// Record remembers that requestID stands for digest; the first record
	// of a RequestId wins.
	Record(requestID, digest string)
}

var _ Keys = (*nodepool.Seen)(nil)

// Config configures an Admission. Zero values take the defaults of
// withDefaults.
type Config struct {
	// Validator applies the request rules; default
	// nodepool.NewValidator(nodepool.ValidationConfig{}).
	Validator *nodepool.Validator
	// Queue is the requests queue. Required by Submit; Check does not use
	// it.
	Queue nodepool.Sender
	// Sealer seals passwords for the queue; nil when no request of this
	// front door carries one (a request with a password then fails to
	// submit).
	Sealer *nodepool.Sealer
	// Keys remembers what each RequestId stands for; default
	// nodepool.NewSeen(0), this Admission's own memory.
	Keys Keys
	// Pools describes a cluster's pools for DryRun (the client's rate
	// limit is the front door's: ENS_DESCRIBE_RATE, as the worker's).
	// Required by DryRun; the others do not use it.
	Pools nodepool.PoolReader
	// DescribeTimeout bounds a dry run's DescribeClusterNodePools;
	// default 10s.
	DescribeTimeout time.Duration
	// SendTimeout bounds the queue send. The send runs even if the
	// caller's context is cancelled (a caller hanging up), so an
	// acknowledged message is never reported as not accepted; default 10s.
	SendTimeout time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives the audit and acceptance records; nil discards.
	Logger *slog.Logger
	// LogPrefix names the front door in the acceptance record's message,
	// "<LogPrefix>: accepted"; default "admission".
	LogPrefix string
}

func (c Config) withDefaults() Config {
	if c.Validator == nil {
		c.Validator = nodepool.NewValidator(nodepool.ValidationConfig{})
	}
	if c.Keys == nil {
		c.Keys = nodepool.NewSeen(0)
	}
	c.SendTimeout = cmp.Or(c.SendTimeout, 10*time.Second)
	c.DescribeTimeout = cmp.Or(c.DescribeTimeout, 10*time.Second)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.LogPrefix = cmp.Or(c.LogPrefix, "admission")
	return c
}

// ErrConfig is matched by every error of New.
var ErrConfig = errors.New("admission: invalid configuration")

func (c Config) validate() error {
	if c.SendTimeout < 0 || c.DescribeTimeout < 0 {
		return fmt.Errorf("%w: SendTimeout and DescribeTimeout must not be negative", ErrConfig)
	}
	return nil
}

// Admission admits requests. Safe for concurrent use.
type Admission struct {
	cfg Config
}

// New builds an Admission.
func New(cfg Config) (*Admission, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Admission{cfg: cfg}, nil
}

// Request is one authenticated request, as its front door hands it over.
type Request struct {
	// Request is the decoded request, the password in clear; nil when the
	// front door could not read it (Err).
	Request *nodepool.Request
	// Err is the front door's error reading the request (a body that
	// does not decode, a chat option that is not a number). Check refuses
	// such a request as invalid, with every problem validation finds in
	// what could be read (Request, if not nil).
	Err error
	// RequestID is its RequestId (nodepool.RequestID).
	RequestID string
	// Caller is the authenticated caller; nil in simple mode (no CALLERS).
	Caller *caller.Caller
	// Source is the envelope Source (nodepool.SourceWebhook, SourceChatOps).
	Source string
	// Channel is the audit records' Source: caller.SourceAPI, a chat
	// platform, or caller.SourceQueue.
	Channel string
	// ReceivedAt is when the request entered the system; zero means
	// Config.Now at Submit.
	ReceivedAt time.Time
	// LogAttrs are added to the acceptance log record (a webhook-id, a
	// chat platform and user); never a secret.
	LogAttrs []slog.Attr
}

// Checked is a request that passed Check; only Check makes one, so Submit
// never queues an unchecked request.
type Checked struct {
	r      Request
	digest string
}

// Request returns the request that was checked.
func (c Checked) Request() Request { return c.r }

// Receipt is what the queue acknowledged.
type Receipt struct {
	// RequestID is the request's RequestId.
	RequestID string
	// MessageID is the queue's id of the envelope.
	MessageID string
}

// Check decides whether r may be queued: valid, inside its caller's
// policy, and not a reused RequestId. It queues and remembers nothing; a
// refusal (an *Error) is audited as denied.
func (a *Admission) Check(ctx context.Context, r Request) (Checked, error) {
	return a.check(ctx, r, caller.ActionCreate)
}

// check is Check, its refusals audited as action.
func (a *Admission) check(ctx context.Context, r Request, action string) (Checked, error) {
	if err := a.validate(r); err != nil {
		return Checked{}, a.deny(ctx, r, action, &Error{Code: CodeInvalid, Message: "the request is invalid", Err: err}, "invalid: "+err.Error())
	}
	if r.Caller != nil {
		if err := r.Caller.Check(r.Request); err != nil {
			return Checked{}, a.deny(ctx, r, action, &Error{Code: CodeForbidden, Message: err.Error(), Err: err}, err.Error())
		}
	}
	digest := nodepool.Digest(r.Request)
	if a.cfg.Keys.Conflicts(r.RequestID, digest) {
		return Checked{}, a.deny(ctx, r, action, &Error{Code: CodeKeyReused, Message: keyReused}, "idempotency key reused: "+keyReused)
	}
	return Checked{r: r, digest: digest}, nil
}

// keyReused explains CodeKeyReused to the caller.
const keyReused = "this Idempotency-Key (or webhook-id) was already used for a different request body; " +
	"send a new key for a new or corrected request"

// validate returns every problem of r: its reading error and what the
// validator finds in what could be read.
func (a *Admission) validate(r Request) error {
	switch {
	case r.Request == nil && r.Err != nil:
		return r.Err
	case r.Request == nil:
		return errors.New("admission: no request")
	case r.Err != nil:
		return errors.Join(r.Err, a.cfg.Validator.Validate(r.Request))
	}
	return a.cfg.Validator.Validate(r.Request)
}

// Submit puts a checked request on the requests queue and remembers what
// its RequestId stands for. The queue not acknowledging is an *Error with
// CodeUnavailable: nothing was accepted, a retry with the same RequestId
// is safe. Either way the decision is audited; an acceptance is logged.
func (a *Admission) Submit(ctx context.Context, c Checked) (Receipt, error) {
	r := c.r
	if r.Request == nil || a.cfg.Queue == nil {
		return Receipt{}, errors.New("admission: Submit needs a request from Check and Config.Queue")
	}
	sub := nodepool.Submission{Request: r.Request, RequestID: r.RequestID, Source: r.Source, ReceivedAt: r.ReceivedAt, Sealer: a.cfg.Sealer}
	if sub.ReceivedAt.IsZero() {
		sub.ReceivedAt = a.cfg.Now()
	}
	if r.Caller != nil {
		sub.Caller = r.Caller.Id
		if keys := r.Caller.EnvelopeKeys(); len(keys) > 0 {
			sub.Key = keys[0]
		}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.SendTimeout)
	messageID, err := nodepool.Submit(sctx, a.cfg.Queue, sub)
	cancel()
	switch {
	case errors.Is(err, nodepool.ErrNotSent):
		a.audit(ctx, r, caller.ActionCreate, caller.DecisionFailed, "queue unavailable")
		return Receipt{}, &Error{Code: CodeUnavailable, Message: "the request queue is unavailable; nothing was accepted, retry later", Err: err}
	case err != nil:
		a.audit(ctx, r, caller.ActionCreate, caller.DecisionFailed, "the envelope could not be built")
		return Receipt{}, fmt.Errorf("admission: %w", err)
	}
	a.cfg.Keys.Record(r.RequestID, c.digest)
	a.audit(ctx, r, caller.ActionCreate, caller.DecisionAccepted, "")
	attrs := append(make([]slog.Attr, 0, 8), // on the stack
		slog.String(logattr.KeyRequestID, r.RequestID),
		slog.String(logattr.KeyClusterID, r.Request.ClusterId),
		slog.String(logattr.KeyName, r.Request.NodepoolInfo.Name),
		slog.String(logattr.KeyMessageID, messageID))
	attrs = append(attrs, r.LogAttrs...)
	a.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, a.cfg.LogPrefix+": accepted", attrs...)
	return Receipt{RequestID: r.RequestID, MessageID: messageID}, nil
}

// Admit is Check then Submit: the whole admission of a front door.
func (a *Admission) Admit(ctx context.Context, r Request) (Receipt, error) {
	c, err := a.Check(ctx, r)
	if err != nil {
		return Receipt{}, err
	}
	return a.Submit(ctx, c)
}

// Remember records what a checked request's RequestId stands for without
// queueing it: for a consumer that acts on a request it did not submit
// (the worker, after its own Check of a queued envelope).
func (a *Admission) Remember(c Checked) {
	if c.r.Request != nil {
		a.cfg.Keys.Record(c.r.RequestID, c.digest)
	}
}

// deny audits a refusal of action and returns it.
func (a *Admission) deny(ctx context.Context, r Request, action string, err *Error, reason string) error {
	a.audit(ctx, r, action, caller.DecisionDenied, reason)
	return err
}

// audit writes the audit record of one decision about r.
func (a *Admission) audit(ctx context.Context, r Request, action, decision, reason string) {
	rec := caller.Record{Caller: caller.SimpleCaller, Source: r.Channel, Action: action,
		RequestId: r.RequestID, Decision: decision, Reason: reason}
	if r.Caller != nil {
		rec.Caller = r.Caller.Id
	}
	if r.Request != nil {
		rec.ClusterId, rec.Name = r.Request.ClusterId, r.Request.NodepoolInfo.Name
	}
	caller.Audit(ctx, a.cfg.Logger, rec)
}
