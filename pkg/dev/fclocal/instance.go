package fclocal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

const apiPrefix = "/2020-11-11/runtime/invocation/"

// invocation is one request travelling through an instance.
type invocation struct {
	id       string
	payload  []byte
	retry    int
	deadline time.Time
	start    time.Time
	proc     *proc
	timer    *time.Timer

	once     sync.Once
	done     chan struct{}
	result   []byte
	err      error
	duration time.Duration
}

func (inv *invocation) finish(now time.Time, result []byte, err error) {
	inv.once.Do(func() {
		inv.result, inv.err, inv.duration = result, err, now.Sub(inv.start)
		close(inv.done)
	})
}

// instance is one slot of a function's pool; its process is restarted when
// it exits. Only one invocation is in flight per instance.
type instance struct {
	rt         *Runtime
	fn         *function
	name       string
	firstReady chan struct{} // closed when the first process asks for work
	readyOnce  sync.Once
	out        *lineWriter

	mu       sync.Mutex
	p        *proc // current process; nil between processes
	inflight *invocation
	inPool   bool // in fn.idle
	starts   int
	lastErr  error
}

// proc is one process generation of an instance, with its own runtime API
// listener, so requests of a dead process can never take new work.
type proc struct {
	cmd       *exec.Cmd
	srv       *http.Server
	addr      string
	id        string // FC_INSTANCE_ID
	pending   chan *invocation
	startAt   time.Time
	readyOnce sync.Once
	readyAt   time.Time // under instance.mu
	dead      bool      // under instance.mu
	exited    chan struct{}
}

func newInstance(rt *Runtime, fn *function, n int) *instance {
	name := fmt.Sprintf("%s#%d", fn.Name, n)
	return &instance{
		rt: rt, fn: fn, name: name,
		firstReady: make(chan struct{}),
		out:        &lineWriter{mu: &rt.outMu, w: rt.cfg.Output, prefix: "[" + name + "] "},
	}
}

func (in *instance) lastError() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.lastErr == nil {
		return errors.New("no process asked for work yet")
	}
	return in.lastErr
}

func (in *instance) status() InstanceStatus {
	in.mu.Lock()
	defer in.mu.Unlock()
	s := InstanceStatus{Name: in.name, Busy: in.inflight != nil, Starts: in.starts}
	if p := in.p; p != nil {
		s.API = p.addr
		if p.cmd.Process != nil {
			s.PID = p.cmd.Process.Pid
		}
		if !p.readyAt.IsZero() {
			s.ColdStart = p.readyAt.Sub(p.startAt)
		}
	}
	return s
}

// dispatch hands inv to the instance if its process is alive and idle. It
// returns false otherwise; the instance re-enters the pool when its next
// process becomes ready.
func (in *instance) dispatch(inv *invocation) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.inPool = false
	select {
	case <-in.rt.closing:
		return false
	default:
	}
	p := in.p
	if p == nil || p.dead || p.readyAt.IsZero() || in.inflight != nil {
		return false
	}
	now := in.rt.cfg.Now()
	inv.start, inv.deadline, inv.proc = now, now.Add(in.fn.Timeout), p
	in.inflight = inv
	inv.timer = time.AfterFunc(in.fn.Timeout, func() { in.expire(inv) })
	p.pending <- inv // capacity 1 and empty: nothing else is in flight on p
	return true
}

// expire ends inv with ErrTimeout and kills its process (the supervisor
// restarts it), as FC does with a function that overruns its timeout.
func (in *instance) expire(inv *invocation) {
	in.mu.Lock()
	if in.inflight != inv {
		in.mu.Unlock()
		return
	}
	in.inflight = nil
	p := inv.proc
	p.dead = true
	in.mu.Unlock()
	in.rt.log.Warn("fclocal: invocation timed out; killing instance",
		slog.String("instance", in.name), slog.String("requestId", inv.id), slog.Duration("timeout", in.fn.Timeout))
	inv.finish(in.rt.cfg.Now(), nil, fmt.Errorf("%w: function %s request %s after %v", ErrTimeout, in.fn.Name, inv.id, in.fn.Timeout))
	_ = p.cmd.Process.Kill()
}

// complete records the response or error posted for request id by p.
func (in *instance) complete(p *proc, id string, result []byte, err error) bool {
	in.mu.Lock()
	inv := in.inflight
	if inv == nil || inv.id != id || inv.proc != p {
		in.mu.Unlock()
		return false
	}
	in.inflight = nil
	inv.timer.Stop()
	in.returnToPoolLocked()
	in.mu.Unlock()
	inv.finish(in.rt.cfg.Now(), result, err)
	return true
}

// returnToPoolLocked puts the instance back into the idle pool when its
// process is alive, ready and free. in.mu must be held.
func (in *instance) returnToPoolLocked() {
	p := in.p
	if in.inPool || in.inflight != nil || p == nil || p.dead || p.readyAt.IsZero() {
		return
	}
	select {
	case <-in.rt.closing:
		return
	default:
	}
	in.inPool = true
	in.fn.idle <- in // capacity = pool size and each instance is in it at most once
}

func (in *instance) markReady(p *proc) {
	p.readyOnce.Do(func() {
		in.mu.Lock()
		p.readyAt = in.rt.cfg.Now()
		in.lastErr = nil
		in.returnToPoolLocked()
		in.mu.Unlock()
		in.readyOnce.Do(func() { close(in.firstReady) })
		in.rt.log.Debug("fclocal: instance ready", slog.String("instance", in.name),
			slog.Duration("coldStart", p.readyAt.Sub(p.startAt)))
	})
}

// supervise runs processes for the instance until the runtime closes.
func (in *instance) supervise() {
	defer in.rt.wg.Done()
	backoff := in.rt.cfg.RestartBackoff
	for {
		select {
		case <-in.rt.closing:
			return
		default:
		}
		p, err := in.spawn()
		if err == nil {
			in.wait(p)
			in.mu.Lock()
			wasReady := !p.readyAt.IsZero()
			in.mu.Unlock()
			if wasReady {
				backoff = in.rt.cfg.RestartBackoff
			} else {
				backoff = min(2*backoff, 5*time.Second)
			}
		} else {
			in.mu.Lock()
			in.lastErr = err
			in.mu.Unlock()
			in.rt.log.Error("fclocal: cannot start instance", slog.String("instance", in.name), slog.Any("error", err))
			backoff = min(2*backoff, 5*time.Second)
		}
		select {
		case <-in.rt.closing:
			return
		case <-time.After(backoff):
		}
	}
}

// spawn starts a process with its own runtime API server.
func (in *instance) spawn() (*proc, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proc{
		addr:    ln.Addr().String(),
		id:      NewRequestID(),
		pending: make(chan *invocation, 1),
		exited:  make(chan struct{}),
		startAt: in.rt.cfg.Now(),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+apiPrefix+"next", func(w http.ResponseWriter, r *http.Request) { in.next(p, w, r) })
	mux.HandleFunc("POST "+apiPrefix+"{id}/response", func(w http.ResponseWriter, r *http.Request) { in.post(p, w, r, false) })
	mux.HandleFunc("POST "+apiPrefix+"{id}/error", func(w http.ResponseWriter, r *http.Request) { in.post(p, w, r, true) })
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(in.rt.log.Handler(), slog.LevelDebug)}
	in.rt.wg.Add(1)
	go func() {
		defer in.rt.wg.Done()
		_ = p.srv.Serve(ln)
	}()

	fn := in.fn
	cmd := exec.Command(fn.Binary, fn.Args...)
	cmd.Dir = filepath.Dir(fn.Binary)
	cmd.Env = in.env(p)
	cmd.Stdout, cmd.Stderr = in.out, in.out
	cmd.WaitDelay = time.Second
	p.cmd = cmd
	if err := cmd.Start(); err != nil {
		_ = p.srv.Close()
		return nil, fmt.Errorf("fclocal: start %s: %w", fn.Binary, err)
	}
	in.mu.Lock()
	in.p = p
	in.starts++
	in.mu.Unlock()
	select {
	case <-in.rt.closing: // Close may have missed this process
		_ = cmd.Process.Signal(syscall.SIGTERM)
	default:
	}
	in.rt.log.Debug("fclocal: instance started", slog.String("instance", in.name),
		slog.Int("pid", cmd.Process.Pid), slog.String("api", p.addr))
	return p, nil
}

// wait blocks until p exits, then fails its in-flight invocation.
func (in *instance) wait(p *proc) {
	werr := p.cmd.Wait()
	in.out.flush()
	close(p.exited)
	in.mu.Lock()
	p.dead = true
	in.p = nil
	inv := in.inflight
	if inv != nil && inv.proc == p {
		in.inflight = nil
		inv.timer.Stop()
	} else {
		inv = nil
	}
	in.lastErr = fmt.Errorf("process exited: %v", exitText(werr))
	in.mu.Unlock()
	_ = p.srv.Close()

	closing := false
	select {
	case <-in.rt.closing:
		closing = true
	default:
	}
	if inv != nil {
		err := fmt.Errorf("%w: function %s request %s: instance %s exited: %s", ErrCrashed, in.fn.Name, inv.id, in.name, exitText(werr))
		if closing {
			err = fmt.Errorf("%w: %w", ErrClosed, err)
		}
		inv.finish(in.rt.cfg.Now(), nil, err)
	}
	if !closing {
		in.rt.log.Warn("fclocal: instance exited; restarting", slog.String("instance", in.name), slog.String("status", exitText(werr)))
	}
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// terminate fails the in-flight invocation and sends SIGTERM (Close).
func (in *instance) terminate() {
	in.mu.Lock()
	p, inv := in.p, in.inflight
	in.inflight = nil
	if inv != nil {
		inv.timer.Stop()
	}
	in.mu.Unlock()
	if inv != nil {
		inv.finish(in.rt.cfg.Now(), nil, fmt.Errorf("%w: request %s interrupted", ErrClosed, inv.id))
	}
	if p != nil {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
}

func (in *instance) kill() {
	in.mu.Lock()
	p := in.p
	in.mu.Unlock()
	if p != nil {
		_ = p.cmd.Process.Kill()
	}
}

// env is the process environment: BaseEnv, the function's variables, then
// what FC sets
// (https://www.alibabacloud.com/help/en/functioncompute/fc/environment-variables).
func (in *instance) env(p *proc) []string {
	fn, cfg := in.fn, in.rt.cfg
	env := append([]string(nil), cfg.BaseEnv...)
	for k, v := range fn.Env {
		env = append(env, k+"="+v)
	}
	env = append(env,
		"FC_RUNTIME_API="+p.addr,
		"FC_RUNTIME=go1",
		"FC_FUNC_CODE_PATH="+filepath.Dir(fn.Binary),
		"FC_FUNCTION_NAME="+fn.Name,
		"FC_FUNCTION_HANDLER="+fn.Handler,
		"FC_FUNCTION_MEMORY_SIZE="+strconv.Itoa(fn.MemoryMB),
		"FC_FUNCTION_VERSION=LATEST",
		"FC_REGION="+cfg.Region,
		"FC_ACCOUNT_ID="+cfg.AccountID,
		"FC_INSTANCE_ID="+p.id,
	)
	if fn.Credentials != nil {
		c := fn.Credentials()
		env = append(env,
			"ALIBABA_CLOUD_ACCESS_KEY_ID="+c.AccessKeyID,
			"ALIBABA_CLOUD_ACCESS_KEY_SECRET="+c.AccessKeySecret,
			"ALIBABA_CLOUD_SECURITY_TOKEN="+c.SecurityToken)
	}
	return env
}

// next is GET /2020-11-11/runtime/invocation/next: a long poll answered
// with the next invocation for this process. The SDK calls it again as
// soon as it has started a handler, so it is held until the instance is
// free and work arrives.
func (in *instance) next(p *proc, w http.ResponseWriter, r *http.Request) {
	in.markReady(p)
	var inv *invocation
	select {
	case inv = <-p.pending:
	case <-r.Context().Done():
		return
	case <-p.exited:
		http.Error(w, "instance stopped", http.StatusServiceUnavailable)
		return
	}
	in.mu.Lock()
	current := in.inflight == inv
	in.mu.Unlock()
	if !current { // timed out or closed before it was delivered
		http.Error(w, "invocation no longer current", http.StatusConflict)
		return
	}
	fn, cfg := in.fn, in.rt.cfg
	h := w.Header()
	set := func(k, v string) { h[k] = []string{v} } // exact lower-case names, as FC sends them
	set("x-fc-request-id", inv.id)
	set("x-fc-function-deadline", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
	set("x-fc-function-timeout", strconv.Itoa(int(max(1, (fn.Timeout+time.Second-1)/time.Second))))
	set("x-fc-retry-count", strconv.Itoa(inv.retry))
	set("x-fc-function-type", "0")
	set("x-fc-function-name", fn.Name)
	set("x-fc-function-handler", fn.Handler)
	set("x-fc-function-memory", strconv.Itoa(fn.MemoryMB))
	set("x-fc-region", cfg.Region)
	set("x-fc-account-id", cfg.AccountID)
	set("x-fc-service-name", "")
	set("x-fc-qualifier", "LATEST")
	set("x-fc-version-id", "LATEST")
	if fn.Credentials != nil {
		c := fn.Credentials()
		set("x-fc-access-key-id", c.AccessKeyID)
		set("x-fc-access-key-secret", c.AccessKeySecret)
		set("x-fc-security-token", c.SecurityToken)
	}
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.Itoa(len(inv.payload)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(inv.payload)
}

// post is POST /{id}/response and /{id}/error.
func (in *instance) post(p *proc, w http.ResponseWriter, r *http.Request, isError bool) {
	id := r.PathValue("id")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, in.rt.cfg.MaxPayload))
	var result []byte
	var ierr error
	switch {
	case err != nil:
		ierr = &FunctionError{Function: in.fn.Name, RequestID: id, Type: "ResponseTooLarge", Message: err.Error()}
	case isError:
		fe := &FunctionError{}
		if jerr := json.Unmarshal(body, fe); jerr != nil || (fe.Message == "" && fe.Type == "") {
			fe = &FunctionError{Type: "UnhandledInvocationError", Message: string(bytes.TrimSpace(body))}
		}
		fe.Function, fe.RequestID = in.fn.Name, id
		ierr = fe
	default:
		result = body
	}
	if !in.complete(p, id, result, ierr) {
		http.Error(w, "no such invocation in flight", http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// lineWriter prefixes each line written by a process and writes whole lines
// to the shared output.
type lineWriter struct {
	mu     *sync.Mutex // shared by all instances of a Runtime
	w      io.Writer
	prefix string

	bufMu sync.Mutex
	buf   []byte
}

func (l *lineWriter) Write(b []byte) (int, error) {
	l.bufMu.Lock()
	defer l.bufMu.Unlock()
	l.buf = append(l.buf, b...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.emit(l.buf[:i+1])
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 64<<10 { // an endless line: flush what we have
		l.emit(append(l.buf, '\n'))
		l.buf = nil
	}
	if len(l.buf) == 0 {
		l.buf = nil
	}
	return len(b), nil
}

func (l *lineWriter) flush() {
	l.bufMu.Lock()
	defer l.bufMu.Unlock()
	if len(l.buf) > 0 {
		l.emit(append(l.buf, '\n'))
		l.buf = nil
	}
}

func (l *lineWriter) emit(line []byte) {
	out := make([]byte, 0, len(l.prefix)+len(line))
	out = append(append(out, l.prefix...), line...)
	l.mu.Lock()
	_, _ = l.w.Write(out)
	l.mu.Unlock()
}
