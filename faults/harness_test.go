package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/dev/enssim"
	"github.com/ensnodepool/webhook/pkg/dev/localstack"
	"github.com/ensnodepool/webhook/pkg/dev/mnssim"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
	"github.com/ensnodepool/webhook/pkg/mns"
)

// ---- result table ----

// row is one line of the suite's table.
type row struct {
	Fault      string
	Requests   int // requests accepted (202)
	Pools      int // creates in ENS for the requests' (ClusterId, Name)
	Duplicates int // creates beyond one per (ClusterId, Name) — must be 0
	Expected   int // terminal events expected
	Delivered  int // expected terminal events delivered (distinct webhook-ids)
	Lost       int // expected terminal events never delivered — must be 0
	Unexpected int // wrong terminal type, or several webhook-ids for one terminal event — must be 0
	SameID     int // at-least-once redeliveries with the same webhook-id (allowed, counted)
	DLQ        int // dead-letter records at the end
	Took       time.Duration
	Note       string
}

var (
	tableMu sync.Mutex
	table   []row
)

func record(r row) {
	tableMu.Lock()
	defer tableMu.Unlock()
	table = append(table, r)
}

func renderTable() string {
	tableMu.Lock()
	defer tableMu.Unlock()
	rs := append([]row(nil), table...)
	sort.Slice(rs, func(i, j int) bool { return rs[i].Fault < rs[j].Fault })
	var b strings.Builder
	b.WriteString("| fault injected | requests | pools created | duplicates | terminal events expected | delivered | lost | wrong/extra | same-id redeliveries | DLQ | took | note |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "| %s | %d | %d | **%d** | %d | %d | **%d** | **%d** | %d | %d | %v | %s |\n",
			r.Fault, r.Requests, r.Pools, r.Duplicates, r.Expected, r.Delivered, r.Lost, r.Unexpected, r.SameID, r.DLQ,
			r.Took.Round(100*time.Millisecond), r.Note)
	}
	return b.String()
}

// ---- fault injection: a wrapping http.Handler ----

// action is what a faultHandler does with one request.
type action struct {
	Delay time.Duration // wait before anything else
	// Status, when set, answers with it instead of the service's answer:
	// before forwarding (the call did not happen) or, with After, after
	// forwarding (the call happened, the answer was lost).
	Status int
	Body   string
	After  bool
}

// faultHandler wraps a service (enssim, mnssim) with seeded faults and
// captures every byte of requests and responses.
type faultHandler struct {
	next   http.Handler
	opOf   func(*http.Request) string
	wire   *testkit.SyncBuffer
	mu     sync.Mutex
	rng    *rand.Rand
	rule   func(op string, rng *rand.Rand) action
	counts map[string]int // injected faults by op
	calls  map[string]int
}

func newFaultHandler(next http.Handler, opOf func(*http.Request) string, seed uint64) *faultHandler {
	return &faultHandler{next: next, opOf: opOf, wire: &testkit.SyncBuffer{}, rng: rand.New(rand.NewPCG(seed, 7)),
		counts: map[string]int{}, calls: map[string]int{}}
}

// setRule replaces the fault rule (nil: no faults).
func (f *faultHandler) setRule(r func(op string, rng *rand.Rand) action) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rule = r
}

func (f *faultHandler) callCount(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *faultHandler) injected() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := map[string]int{}
	for k, v := range f.counts {
		m[k] = v
	}
	return m
}

type teeWriter struct {
	http.ResponseWriter
	w io.Writer
}

func (t teeWriter) Write(p []byte) (int, error) {
	t.w.Write(p)
	return t.ResponseWriter.Write(p)
}

func (f *faultHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	// The exchange goes to wire in one piece when it ends, so that a
	// long poll's answer stays under its own request line rather than
	// under whichever request arrived meanwhile.
	var ex bytes.Buffer
	defer func() { f.wire.Write(ex.Bytes()) }()
	fmt.Fprintf(&ex, "\n> %s %s\n", r.Method, r.URL.String())
	ex.Write(body)
	op := f.opOf(r)
	f.mu.Lock()
	f.calls[op]++
	var a action
	if f.rule != nil {
		a = f.rule(op, f.rng)
	}
	if a.Status != 0 || a.Delay > 0 {
		f.counts[op]++
	}
	f.mu.Unlock()
	if a.Delay > 0 {
		select {
		case <-time.After(a.Delay):
		case <-r.Context().Done():
			return
		}
	}
	if a.Status != 0 {
		if a.After {
			f.next.ServeHTTP(httptest.NewRecorder(), r)
		}
		w.WriteHeader(a.Status)
		io.WriteString(w, a.Body)
		return
	}
	fmt.Fprintf(&ex, "\n< ")
	f.next.ServeHTTP(teeWriter{w, &ex}, r)
}

// ensOp names an ENS call by its action.
func ensOp(r *http.Request) string {
	if a := r.Header.Get("x-acs-action"); a != "" {
		return a
	}
	if a := r.URL.Query().Get("Action"); a != "" {
		return a
	}
	return "admin"
}

// mnsOp names an MNS call: send, receive, delete, visibility or admin.
func mnsOp(r *http.Request) string {
	if !strings.Contains(r.URL.Path, "/messages") {
		return "admin"
	}
	switch r.Method {
	case http.MethodPost:
		return "send"
	case http.MethodGet:
		return "receive"
	case http.MethodDelete:
		return "delete"
	case http.MethodPut:
		return "visibility"
	}
	return "other"
}

// serve runs h on a free loopback port until the test ends.
func serve(t testing.TB, h http.Handler, addr string) string {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	if s, ok := h.(*faultHandler); ok {
		if m, ok := s.next.(*mnssim.Server); ok {
			hs.RegisterOnShutdown(m.CancelPolls)
		}
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = hs.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		<-done
	})
	return ln.Addr().String()
}

// ---- environment: simulators + stack + receiver ----

type envOpts struct {
	seed          uint64
	provision     time.Duration
	externalMNS   string // an MNS endpoint run by the test (e.g. a child process)
	pollerTimeout time.Duration
	mutate        func(*localstack.Config)
	// callers, when set, is the stack's CALLERS (instead of
	// WEBHOOK_SECRET), given the receiver's URL and the secrets.
	callers func(rcvURL string, sec testkit.Secrets) string
}

type env struct {
	t     *testing.T
	sec   testkit.Secrets
	out   *testkit.SyncBuffer
	ens   *enssim.Server
	ensF  *faultHandler
	mns   *mnssim.Server // nil with externalMNS
	mnsF  *faultHandler  // nil with externalMNS
	mnsEP string
	cfg   localstack.Config
	st    *localstack.Stack
	rcv   *receiver
	tmpl  []byte
	start time.Time

	mu       sync.Mutex
	accepted map[string]string // RequestId → Name
	names    map[string]bool
	dead     []mns.Message // the dead-letter records settle drained
}

// trackingVisibility is the tracking queue's visibility timeout in the
// suite: a little under the stack's 30 s (localstack.HeldVisibility), which
// the poller's heartbeats keep extending while a tick holds a message.
const trackingVisibility = 25 * time.Second

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	e := &env{t: t, sec: testkit.NewSecrets(t), out: &testkit.SyncBuffer{}, tmpl: testkit.Template(t, moduleDir),
		accepted: map[string]string{}, names: map[string]bool{}, start: time.Now()}
	testkit.DumpOnFailure(t, e.out)
	dir := t.TempDir()
	if o.provision == 0 {
		o.provision = 1500 * time.Millisecond
	}
	var err error
	e.ens, err = enssim.New(enssim.Config{AccessKeyID: localstack.DevAccessKeyID, AccessKeySecret: localstack.DevAccessKeySecret,
		ProvisionTime: o.provision})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.ens.Close() })
	e.ensF = newFaultHandler(e.ens, ensOp, o.seed)
	ensAddr := serve(t, e.ensF, "")
	if o.externalMNS != "" {
		e.mnsEP = o.externalMNS
	} else {
		e.mns, err = mnssim.New(mnssim.Config{AccessKeyID: localstack.DevAccessKeyID, AccessKeySecret: localstack.DevAccessKeySecret,
			Dir: filepath.Join(dir, "mns")})
		if err != nil {
			t.Fatal(err)
		}
		e.mnsF = newFaultHandler(e.mns, mnsOp, o.seed+1)
		e.mnsEP = "http://" + serve(t, e.mnsF, "")
		t.Cleanup(func() { e.mns.Close() })
	}
	if o.pollerTimeout == 0 {
		o.pollerTimeout = 35 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	qc := e.queueClient()
	if err := qc.EnsureQueue(ctx, config.DefaultTrackingQueue, mns.QueueAttributes{VisibilityTimeout: trackingVisibility}); err != nil {
		t.Fatal(err)
	}
	e.rcv = newReceiver(t, e.sec.Callback)
	cfg := testkit.Config(filepath.Join(dir, "stack"), binDir, e.sec, e.out)
	cfg.MNSEndpoint = e.mnsEP
	cfg.ENSEndpoint, cfg.ENSProtocol = ensAddr, "HTTP"
	cfg.ENSProvision = o.provision
	cfg.PollerTimeout = o.pollerTimeout
	cfg.StopGrace = 3 * time.Second
	if o.callers != nil {
		cfg.WebhookSecrets, cfg.Callers = nil, o.callers(e.rcv.url, e.sec)
	}
	if o.mutate != nil {
		o.mutate(&cfg)
	}
	e.cfg = cfg
	e.st = testkit.Start(t, cfg)
	return e
}

func (e *env) queueClient() *mns.Client {
	qc, err := mns.New(mns.Config{Endpoint: e.mnsEP, Timeout: 40 * time.Second,
		Credentials: mns.Credentials{AccessKeyID: localstack.DevAccessKeyID, AccessKeySecret: localstack.DevAccessKeySecret}})
	if err != nil {
		e.t.Fatal(err)
	}
	return qc
}

// request is the sample request for pool name with its callback at url.
func (e *env) request(name, url string) []byte {
	b, err := localstack.Request(e.tmpl, name, url)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// submit POSTs body like a careful client: on 5xx or a transport error it
// retries with the same webhook-id (so the RequestId stays the same) for
// up to 60 s. It returns the RequestId.
func (e *env) submit(name string, body []byte) string {
	e.t.Helper()
	id := fmt.Sprintf("msg_%s_%d", name, time.Now().UnixNano())
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		status, resp, err := localstack.PostCreate(ctx, nil, e.st.URL(), e.sec.Webhook, id, body)
		cancel()
		if err == nil && status == http.StatusAccepted {
			var a localstack.Accepted
			if err := json.Unmarshal(resp, &a); err != nil || a.RequestId == "" {
				e.t.Fatalf("202 body %s: %v", resp, err)
			}
			e.mu.Lock()
			e.accepted[a.RequestId] = name
			e.names[name] = true
			e.mu.Unlock()
			return a.RequestId
		}
		if err == nil && status < 500 {
			e.t.Fatalf("POST %s: %d %s", name, status, resp)
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("POST %s: still failing after 60 s: %d %s %v", name, status, resp, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// expectation: RequestId → terminal event type.
type expectation map[string]string

// settle waits until every expected terminal event arrived (or timeout),
// then a little longer for late duplicates, and returns the row, having
// asserted its zeros.
func (e *env) settle(fault string, want expectation, timeout time.Duration, note string) row {
	e.t.Helper()
	done := func() bool {
		g := e.rcv.byRequest()
		for id, typ := range want {
			if typ != "" && len(g[id][typ]) == 0 {
				return false
			}
		}
		return true
	}
	testkit.Eventually(timeout, done)
	time.Sleep(4 * e.cfg.PollInterval)
	r := row{Fault: fault, Note: note, Took: time.Since(e.start)}
	e.mu.Lock()
	r.Requests = len(e.accepted)
	names := e.names
	e.mu.Unlock()
	for _, c := range e.ens.Stats().Creates {
		if names[c.Name] {
			r.Pools += int(c.Count)
			if c.Count > 1 {
				r.Duplicates += int(c.Count) - 1
				e.t.Errorf("%s: pool %s/%s created %d times", fault, c.ClusterId, c.Name, c.Count)
			}
		}
	}
	g := e.rcv.byRequest()
	terminal := []string{callback.TypeActive, callback.TypeFailed, callback.TypeTimeout}
	for id, typ := range want {
		if typ == "" {
			continue
		}
		r.Expected++
		if n := len(g[id][typ]); n >= 1 {
			r.Delivered++
			if n > 1 {
				r.Unexpected += n - 1
				e.t.Errorf("%s: request %s: %s under %d webhook-ids", fault, id, typ, n)
			}
		} else {
			r.Lost++
			e.t.Errorf("%s: request %s: %s never delivered; got %v", fault, id, typ, g[id])
		}
	}
	for id, types := range g {
		for typ, ids := range types {
			for _, n := range ids {
				r.SameID += n - 1
			}
			if typ == callback.TypeCreating || want[id] == typ {
				continue
			}
			for _, tt := range terminal {
				if typ == tt {
					r.Unexpected += len(ids)
					e.t.Errorf("%s: request %s: unexpected %s", fault, id, typ)
				}
			}
		}
	}
	if n := e.rcv.rejectedCount(); n != 0 {
		e.t.Errorf("%s: %d callbacks with bad signatures", fault, n)
	}
	if e.mnsF != nil {
		e.mnsF.setRule(nil) // the suite's own reads must not meet the faults
	}
	e.dead = e.drain(config.DefaultDeadLetterQueue)
	r.DLQ = len(e.dead)
	record(r)
	return r
}

// drain receives and deletes every visible message of a queue.
func (e *env) drain(name string) []mns.Message {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	q := e.queueClient().Queue(name)
	var all []mns.Message
	for range 100 {
		ms, err := q.Receive(ctx, 16, time.Second)
		if err != nil {
			e.t.Errorf("drain %s: %v", name, err)
			return all
		}
		if len(ms) == 0 {
			return all
		}
		for _, m := range ms {
			all = append(all, m)
			_ = q.Delete(ctx, m.ReceiptHandle)
		}
	}
	return all
}

// ---- receiver ----

// receiver is a callback endpoint with per-path behaviour; it verifies
// signatures and keeps every raw body.
//
//	/ok        204
//	/slow      204 after 2 s
//	/flaky     500 on the first attempt of each webhook-id, then 204
//	/gone      410
//	/redirect  302 to /trap (must never be followed)
//	/trap      records a hit
type receiver struct {
	t        testing.TB
	verifier *callback.Verifier
	url      string

	mu       sync.Mutex
	got      map[string]map[string]map[string]int // RequestId → type → id → deliveries (2xx only)
	first    map[string]time.Time                 // RequestId + " " + type → first 2xx delivery
	attempts map[string]int                       // path → attempts
	seen     map[string]bool
	raw      bytes.Buffer
	rejected int
}

func newReceiver(t testing.TB, secret string) *receiver { return newReceiverAt(t, secret, "") }

// newReceiverAt listens on addr ("" = a free loopback port).
func newReceiverAt(t testing.TB, secret, addr string) *receiver {
	v, err := callback.NewVerifier(callback.VerifierConfig{Secrets: []string{secret}})
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{t: t, verifier: v, got: map[string]map[string]map[string]int{}, attempts: map[string]int{}, seen: map[string]bool{},
		first: map[string]time.Time{}}
	r.url = "http://" + serve(t, r, addr)
	return r
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	path := req.URL.Path
	r.mu.Lock()
	r.attempts[path]++
	r.raw.WriteString("\n" + path + " ")
	for k, v := range req.Header {
		fmt.Fprintf(&r.raw, "%s: %s\n", k, v)
	}
	r.raw.Write(body)
	r.mu.Unlock()
	if err := r.verifier.Verify(body, req.Header); err != nil {
		r.mu.Lock()
		r.rejected++
		r.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	id := req.Header.Get(callback.HeaderID)
	switch path {
	case "/slow":
		time.Sleep(2 * time.Second)
	case "/flaky":
		r.mu.Lock()
		first := !r.seen[id]
		r.seen[id] = true
		r.mu.Unlock()
		if first {
			http.Error(w, "try again", http.StatusInternalServerError)
			return
		}
	case "/gone":
		w.WriteHeader(http.StatusGone)
		return
	case "/redirect":
		http.Redirect(w, req, "/trap", http.StatusFound)
		return
	case "/trap":
	}
	var ev callback.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	testkit.Add(r.got, ev.Data.RequestId, ev.Type, id)
	if k := ev.Data.RequestId + " " + ev.Type; r.first[k].IsZero() {
		r.first[k] = time.Now()
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) byRequest() map[string]map[string]map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := map[string]map[string]map[string]int{}
	for a, m := range r.got {
		for b, n := range m {
			for id, k := range n {
				for range k {
					testkit.Add(c, a, b, id)
				}
			}
		}
	}
	return c
}

// firstAt returns when the first 2xx delivery of a request's event of
// type typ arrived (zero if none).
func (r *receiver) firstAt(requestID, typ string) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.first[requestID+" "+typ]
}

func (r *receiver) hits(path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts[path]
}

func (r *receiver) rejectedCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rejected
}

func (r *receiver) rawBytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.raw.Bytes())
}
