// Package fclocal is a local host for Function Compute 3.0 go1 functions:
// it runs the same binaries that deploy (built with fc-runtime-go-sdk's
// fc.Start) as child processes and serves each one the FC runtime API
// (GET /2020-11-11/runtime/invocation/next, POST /{id}/response and
// /{id}/error, as github.com/aliyun/fc-runtime-go-sdk speaks it), with the
// environment FC gives
// (https://www.alibabacloud.com/help/en/functioncompute/fc/environment-variables). It enforces one in-flight invocation per instance, keeps a pool of
// instances per function, enforces invocation timeouts (kill and restart),
// restarts crashed instances and prefixes their output per instance.
//
// Triggers turn local events into invocations: [Runtime.HTTPTrigger] (an
// http.Handler speaking the FC3 HTTP trigger event), [TimerTrigger] and
// [QueueTrigger] (an EventBridge MNS source in event-streaming mode over the
// small [Source] interface).
//
// It is a development and test host, not a production FC replacement: no
// isolation, no memory limit, no scaling beyond the configured instances.
package fclocal

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Errors returned by Do / Invoke; test with errors.Is.
var (
	// ErrFunction: the function reported an error (handler error or panic);
	// the error is a *FunctionError.
	ErrFunction = errors.New("fclocal: function error")
	// ErrTimeout: the invocation did not finish within the function timeout;
	// the instance was killed and is restarted.
	ErrTimeout = errors.New("fclocal: invocation timed out")
	// ErrCrashed: the instance process exited during the invocation.
	ErrCrashed = errors.New("fclocal: instance crashed")
	// ErrUnknownFunction: no function of that name.
	ErrUnknownFunction = errors.New("fclocal: unknown function")
	// ErrClosed: the runtime is shutting down.
	ErrClosed = errors.New("fclocal: runtime closed")
	// ErrConfig: invalid configuration.
	ErrConfig = errors.New("fclocal: invalid config")
)

// FunctionError is the error JSON a function posts to /{id}/error
// ({"errorMessage","errorType","stackTrace"}). It matches ErrFunction.
type FunctionError struct {
	Function  string `json:"-"`
	RequestID string `json:"-"`
	Message   string `json:"errorMessage"`
	Type      string `json:"errorType"`
	// StackTrace is present for panics: [{"path","line","label"}].
	StackTrace []StackFrame `json:"stackTrace,omitempty"`
}

// StackFrame is one frame of a panic's stack trace.
type StackFrame struct {
	Path  string `json:"path"`
	Line  int32  `json:"line"`
	Label string `json:"label"`
}

func (e *FunctionError) Error() string {
	return fmt.Sprintf("fclocal: function %s request %s: %s: %s", e.Function, e.RequestID, e.Type, e.Message)
}

// Is makes errors.Is(err, ErrFunction) true.
func (e *FunctionError) Is(target error) bool { return target == ErrFunction }

// Panicked reports whether the error came from a panic (it has a stack trace).
func (e *FunctionError) Panicked() bool { return len(e.StackTrace) > 0 }

// Creds are STS-like credentials handed to one invocation
// (x-fc-access-key-id, x-fc-access-key-secret, x-fc-security-token) and to
// each new instance (ALIBABA_CLOUD_* variables).
type Creds struct {
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string
}

// Function describes one function to host.
type Function struct {
	// Name is the FC function name (required, unique).
	Name string
	// Binary is the path of the executable built from functions/<name>
	// (required).
	Binary string
	// Args are extra command-line arguments (FC passes none).
	Args []string
	// Env is the function's environmentVariables. FC_* and ALIBABA_CLOUD_*
	// set by the runtime take precedence.
	Env map[string]string
	// Timeout is the function timeout; default 3s (the fc3 default).
	Timeout time.Duration
	// MemoryMB is reported as memory size; default 512.
	MemoryMB int
	// Instances is the pool size, each instance serving one invocation at a
	// time (go1 semantics); default 1.
	Instances int
	// Handler is the go1 handler (the executable's name); default the
	// base name of Binary.
	Handler string
	// Credentials returns the credentials for each invocation; nil sends
	// none.
	Credentials func() Creds
}

// Config configures a Runtime.
type Config struct {
	// Functions to host (at least one).
	Functions []Function
	// Region is x-fc-region / FC_REGION; default "cn-hangzhou".
	Region string
	// AccountID is x-fc-account-id / FC_ACCOUNT_ID; default "1234567890123456".
	AccountID string
	// BaseEnv ("KEY=VALUE") is given to every instance before Function.Env,
	// e.g. PATH or GOCOVERDIR. The runtime never reads its own environment.
	BaseEnv []string
	// Output receives the instances' stdout and stderr, each line prefixed
	// "[<function>#<n>] "; nil means os.Stderr.
	Output io.Writer
	// Logger receives the runtime's own events; nil discards.
	Logger *slog.Logger
	// StopTimeout is how long Close waits after SIGTERM before killing; default 2s.
	StopTimeout time.Duration
	// StartTimeout bounds Start's wait for every instance's first
	// `next`; default 30s.
	StartTimeout time.Duration
	// RestartBackoff is the first delay before restarting an instance that
	// exited; it doubles while instances keep dying before becoming ready,
	// up to 5s. Default 50ms.
	RestartBackoff time.Duration
	// MaxPayload bounds request and response payloads; default 32 MiB (the
	// FC synchronous invocation limit).
	MaxPayload int64
	// Now is the clock for deadlines and event times; default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	c.Region = cmp.Or(c.Region, "cn-hangzhou")
	c.AccountID = cmp.Or(c.AccountID, "1234567890123456")
	if c.Output == nil {
		c.Output = os.Stderr
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.StopTimeout = cmp.Or(c.StopTimeout, 2*time.Second)
	c.StartTimeout = cmp.Or(c.StartTimeout, 30*time.Second)
	c.RestartBackoff = cmp.Or(c.RestartBackoff, 50*time.Millisecond)
	c.MaxPayload = cmp.Or(c.MaxPayload, 32<<20)
	if c.Now == nil {
		c.Now = time.Now
	}
	fns := make([]Function, len(c.Functions))
	for i, f := range c.Functions {
		f.Timeout = cmp.Or(f.Timeout, 3*time.Second)
		f.MemoryMB = cmp.Or(f.MemoryMB, 512)
		f.Instances = cmp.Or(f.Instances, 1)
		f.Handler = cmp.Or(f.Handler, filepath.Base(f.Binary))
		fns[i] = f
	}
	c.Functions = fns
	return c
}

func (c Config) validate() error {
	if len(c.Functions) == 0 {
		return fmt.Errorf("%w: Functions is empty", ErrConfig)
	}
	seen := map[string]bool{}
	for i, f := range c.Functions {
		switch {
		case f.Name == "":
			return fmt.Errorf("%w: Functions[%d].Name is empty", ErrConfig, i)
		case seen[f.Name]:
			return fmt.Errorf("%w: Functions[%d].Name %q is duplicated", ErrConfig, i, f.Name)
		case f.Binary == "":
			return fmt.Errorf("%w: Functions[%d].Binary is empty", ErrConfig, i)
		case f.Timeout < 0 || f.Instances < 0 || f.MemoryMB < 0:
			return fmt.Errorf("%w: Functions[%d]: negative Timeout, Instances or MemoryMB", ErrConfig, i)
		}
		seen[f.Name] = true
		st, err := os.Stat(f.Binary)
		if err != nil {
			return fmt.Errorf("%w: Functions[%d].Binary: %v", ErrConfig, i, err)
		}
		if st.IsDir() || st.Mode()&0o111 == 0 {
			return fmt.Errorf("%w: Functions[%d].Binary %s is not an executable file", ErrConfig, i, f.Binary)
		}
	}
	if c.StopTimeout < 0 || c.StartTimeout < 0 || c.RestartBackoff < 0 || c.MaxPayload < 0 {
		return fmt.Errorf("%w: negative duration or size", ErrConfig)
	}
	return nil
}

// Request is one invocation.
type Request struct {
	// Function is the function name.
	Function string
	// Payload is the event (FC passes it to the handler as is).
	Payload []byte
	// RequestID is x-fc-request-id; "" generates one.
	RequestID string
	// RetryCount is x-fc-retry-count.
	RetryCount int
}

// Result is a successful invocation's outcome.
type Result struct {
	RequestID string
	// Payload is the function's response body (JSON from fc.Start).
	Payload []byte
	// Duration is from dispatch to the instance until its response.
	Duration time.Duration
}

// Invoker invokes functions; *Runtime implements it. Triggers depend on this
// interface only.
type Invoker interface {
	Do(ctx context.Context, req Request) (Result, error)
}

var _ Invoker = (*Runtime)(nil)

// Runtime hosts functions. Create with New, then Start; Close stops all
// instances. Do and Invoke are safe for concurrent use.
type Runtime struct {
	cfg     Config
	log     *slog.Logger
	fns     map[string]*function
	order   []*function
	outMu   sync.Mutex // serialises prefixed output lines
	closing chan struct{}

	mu      sync.Mutex
	started bool
	closed  bool
	wg      sync.WaitGroup // supervisors and API servers
}

type function struct {
	Function
	idle      chan *instance // instances ready for an invocation
	instances []*instance
}

// New validates cfg and returns a Runtime; no process starts before Start.
func New(cfg Config) (*Runtime, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	rt := &Runtime{cfg: cfg, log: cfg.Logger, fns: map[string]*function{}, closing: make(chan struct{})}
	for _, f := range cfg.Functions {
		fn := &function{Function: f, idle: make(chan *instance, f.Instances)}
		for i := range f.Instances {
			fn.instances = append(fn.instances, newInstance(rt, fn, i+1))
		}
		rt.fns[f.Name] = fn
		rt.order = append(rt.order, fn)
	}
	return rt, nil
}

// Start launches every instance and returns once each has asked for its
// first invocation (GET next), or with an error when that takes longer than
// StartTimeout or ctx ends. On error the caller still calls Close.
func (rt *Runtime) Start(ctx context.Context) error {
	rt.mu.Lock()
	if rt.started || rt.closed {
		rt.mu.Unlock()
		return fmt.Errorf("%w: Start called twice or after Close", ErrConfig)
	}
	rt.started = true
	for _, fn := range rt.order {
		for _, inst := range fn.instances {
			rt.wg.Add(1)
			go inst.supervise()
		}
	}
	rt.mu.Unlock()

	timer := time.NewTimer(rt.cfg.StartTimeout)
	defer timer.Stop()
	for _, fn := range rt.order {
		for _, inst := range fn.instances {
			select {
			case <-inst.firstReady:
			case <-ctx.Done():
				return ctx.Err()
			case <-rt.closing:
				return ErrClosed
			case <-timer.C:
				return fmt.Errorf("fclocal: instance %s not ready after %v: %v", inst.name, rt.cfg.StartTimeout, inst.lastError())
			}
		}
	}
	return nil
}

// Invoke calls function fn with payload and returns its response payload.
func (rt *Runtime) Invoke(ctx context.Context, fn string, payload []byte) ([]byte, error) {
	res, err := rt.Do(ctx, Request{Function: fn, Payload: payload})
	return res.Payload, err
}

// Do runs one invocation on a free instance of req.Function, waiting for one
// if all are busy. The invocation's deadline is dispatch time + Timeout;
// past it the instance is killed and Do returns an error wrapping
// ErrTimeout. If ctx ends first Do returns ctx.Err(), but the invocation
// keeps its instance until it finishes or times out (as in FC, a caller
// going away does not stop the function).
func (rt *Runtime) Do(ctx context.Context, req Request) (Result, error) {
	fn, ok := rt.fns[req.Function]
	if !ok {
		return Result{}, fmt.Errorf("%w: %q", ErrUnknownFunction, req.Function)
	}
	if int64(len(req.Payload)) > rt.cfg.MaxPayload {
		return Result{}, fmt.Errorf("fclocal: payload of %d bytes exceeds %d", len(req.Payload), rt.cfg.MaxPayload)
	}
	inv := &invocation{
		id:      cmp.Or(req.RequestID, NewRequestID()),
		payload: req.Payload,
		retry:   req.RetryCount,
		done:    make(chan struct{}),
	}
	for dispatched := false; !dispatched; {
		select {
		case inst := <-fn.idle:
			dispatched = inst.dispatch(inv)
		case <-ctx.Done():
			return Result{}, ctx.Err()
		case <-rt.closing:
			return Result{}, ErrClosed
		}
	}
	select {
	case <-inv.done:
		return Result{RequestID: inv.id, Payload: inv.result, Duration: inv.duration}, inv.err
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

// InstanceStatus describes one instance (for logs and the local stack).
type InstanceStatus struct {
	// Name is "<function>#<n>".
	Name string
	// PID of the current process, 0 when none.
	PID int
	// API is the host:port of the instance's runtime API.
	API string
	// Busy reports an invocation in flight.
	Busy bool
	// Starts counts processes started (1 + restarts).
	Starts int
	// ColdStart is process start → first GET next of the current process
	// (0 until it asked).
	ColdStart time.Duration
}

// Instances reports the instances of function fn (nil if unknown).
func (rt *Runtime) Instances(fn string) []InstanceStatus {
	f, ok := rt.fns[fn]
	if !ok {
		return nil
	}
	out := make([]InstanceStatus, 0, len(f.instances))
	for _, inst := range f.instances {
		out = append(out, inst.status())
	}
	return out
}

// Close stops every instance (SIGTERM, then kill after StopTimeout), fails
// in-flight invocations with ErrClosed and waits for all goroutines. It is
// safe to call more than once.
func (rt *Runtime) Close() error {
	rt.mu.Lock()
	if rt.closed {
		rt.mu.Unlock()
		rt.wg.Wait()
		return nil
	}
	rt.closed = true
	close(rt.closing)
	rt.mu.Unlock()

	for _, fn := range rt.order {
		for _, inst := range fn.instances {
			inst.terminate()
		}
	}
	done := make(chan struct{})
	go func() { rt.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(rt.cfg.StopTimeout):
	}
	for _, fn := range rt.order {
		for _, inst := range fn.instances {
			inst.kill()
		}
	}
	<-done
	return nil
}

// NewRequestID returns a random FC-style request id.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
