package fcadapter

import (
	"context"
	"math"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fccontext"
)

// Credentials are the STS credentials of the function's role for one
// invocation. FC rotates them; read them per invocation, never cache them
// for longer. The field names match ens.Credentials and queue.Credentials so
// a plain conversion works.
type Credentials struct {
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string
}

// Valid reports whether an access key pair is present.
func (c Credentials) Valid() bool { return c.AccessKeyID != "" && c.AccessKeySecret != "" }

// Invocation is the metadata FC sends with one invocation (the x-fc-* headers
// of the runtime API, as github.com/aliyun/fc-runtime-go-sdk reads them).
type Invocation struct {
	RequestID       string
	FunctionName    string
	FunctionHandler string
	// MemoryMB is the x-fc-function-memory header as sent (a number of MB).
	MemoryMB string
	// Timeout is the function timeout (x-fc-function-timeout).
	Timeout    time.Duration
	Region     string
	AccountID  string
	Qualifier  string
	VersionID  string
	RetryCount int
	// Deadline is the invocation deadline; zero when the context has none.
	Deadline    time.Time
	Credentials Credentials
}

type invocationKey struct{}

// NewContext returns a copy of ctx carrying inv. Tests and other runtimes use
// it to build the context an FC invocation would have.
func NewContext(ctx context.Context, inv Invocation) context.Context {
	return context.WithValue(ctx, invocationKey{}, inv)
}

// FromContext returns the invocation metadata of ctx: first what
// [NewContext] or [WithInvocation] stored, else what the FC SDK stored (read
// defensively). ok is false outside an FC invocation.
func FromContext(ctx context.Context) (inv Invocation, ok bool) {
	if ctx == nil {
		return Invocation{}, false
	}
	if inv, ok := ctx.Value(invocationKey{}).(Invocation); ok {
		return inv, true
	}
	return fromSDK(ctx)
}

// WithInvocation copies the FC SDK's invocation metadata into a context value
// of this package, once. Call it at the top of a handler given to fc.Start
// (HTTPHandler does); later reads then never touch fccontext, whose
// FromContext writes to the shared FcContext on every call (a data race when
// called from several goroutines) and dereferences a nil *FcContext.
func WithInvocation(ctx context.Context) context.Context {
	if _, ok := ctx.Value(invocationKey{}).(Invocation); ok {
		return ctx
	}
	inv, ok := fromSDK(ctx)
	if !ok {
		return ctx
	}
	return NewContext(ctx, inv)
}

// fromSDK reads fccontext only when it is really there: FromContext
// type-asserts a *FcContext and then writes to it, so a typed nil stored
// under its key panics (fccontext/context.go in fc-runtime-go-sdk v0.3.1).
func fromSDK(ctx context.Context) (inv Invocation, ok bool) {
	defer func() {
		if recover() != nil {
			inv, ok = Invocation{}, false
		}
	}()
	lc, ok := fccontext.FromContext(ctx)
	if !ok || lc == nil {
		return Invocation{}, false
	}
	inv = Invocation{
		RequestID:       lc.RequestID,
		FunctionName:    lc.Function.Name,
		FunctionHandler: lc.Function.Handler,
		MemoryMB:        lc.Function.Memory,
		Timeout:         time.Duration(lc.Function.Timeout) * time.Second,
		Region:          lc.Region,
		AccountID:       lc.AccountId,
		Qualifier:       lc.Service.Qualifier,
		VersionID:       lc.Service.VersionId,
		RetryCount:      lc.RetryCount,
		Credentials: Credentials{
			AccessKeyID:     lc.Credentials.AccessKeyId,
			AccessKeySecret: lc.Credentials.AccessKeySecret,
			SecurityToken:   lc.Credentials.SecurityToken,
		},
	}
	if d, ok := ctx.Deadline(); ok {
		inv.Deadline = d
	}
	return inv, true
}

// RequestID returns the FC request id of ctx, or "".
func RequestID(ctx context.Context) string {
	inv, _ := FromContext(ctx)
	return inv.RequestID
}

// CredentialsFrom returns the per-invocation credentials of ctx; ok is false
// when ctx carries no invocation or no access key pair.
func CredentialsFrom(ctx context.Context) (Credentials, bool) {
	inv, ok := FromContext(ctx)
	if !ok || !inv.Credentials.Valid() {
		return Credentials{}, false
	}
	return inv.Credentials, true
}

// NoDeadline is what Budget returns for a context without a deadline.
const NoDeadline = time.Duration(math.MaxInt64)

// Budget returns the time left before ctx's deadline (the FC invocation
// deadline inside a function): ≤ 0 when it has passed, NoDeadline when ctx
// has none.
func Budget(ctx context.Context) time.Duration { return BudgetAt(ctx, time.Now()) }

// BudgetAt is Budget measured at now (for tests with an injected clock).
func BudgetAt(ctx context.Context, now time.Time) time.Duration {
	d, ok := ctx.Deadline()
	if !ok {
		return NoDeadline
	}
	return d.Sub(now)
}
