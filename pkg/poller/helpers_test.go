package poller

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/deadletter"
	"github.com/ensnodepool/webhook/pkg/dev/enssim"
	"github.com/ensnodepool/webhook/pkg/dev/mnssim"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
	"github.com/ensnodepool/webhook/pkg/ens"
	"github.com/ensnodepool/webhook/pkg/mns"
	"github.com/ensnodepool/webhook/pkg/tracking"
)

const (
	testAK = "test-ak"
	testSK = "test-secret"
)

// testSecret is a fixed callback secret: "whsec_" + base64 of bytes 1..32.
var testSecret = func() string {
	b := make([]byte, 32)
	for i := range b {
		b[i] = byte(i + 1)
	}
	return callback.SecretPrefix + base64.StdEncoding.EncodeToString(b)
}()

// newClock returns the injected clock shared by the simulators, the poller
// and the callback sender. It starts on a whole second so
// webhook-timestamps (seconds) equal attempt times exactly.
func newClock() *testkit.Clock { return testkit.NewClock(time.Now().Truncate(time.Second)) }

// env is the real services in-process: the MNS and ENS simulators behind
// httptest servers, reached through pkg/mns and pkg/ens.
type env struct {
	clock    *testkit.Clock
	mns      *mnssim.Server
	ens      *enssim.Server
	ensc     *ens.Client
	tracking *mns.Queue
	dlq      *mns.Queue
	seeds    []enssim.ClusterSeed
}

type envOptions struct {
	clusters int // number of clusters eck-test01..; default 1
	pageSize int // ENS client page size; default 50
	// ensAttempts caps the ENS client's attempts per call (default 10).
	ensAttempts int
}

func clusterID(i int) string { return fmt.Sprintf("eck-test%02d", i+1) }

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	o.clusters = max(o.clusters, 1)
	e := &env{clock: newClock()}
	mnsSim := testkit.StartMNS(t, mnssim.Config{AccessKeyID: testAK, AccessKeySecret: testSK, Now: e.clock.Now,
		MaxClockSkew: 10000 * time.Hour})
	e.mns = mnsSim.Server
	for i := range o.clusters {
		e.seeds = append(e.seeds, enssim.ClusterSeed{ClusterId: clusterID(i), Name: "test", EnsRegionId: "cn-test-1",
			VswitchIds: []string{"vsw-test0001"}})
	}
	ensSim := testkit.StartENS(t, enssim.Config{AccessKeyID: testAK, AccessKeySecret: testSK, Now: e.clock.Now,
		ProvisionTime: 20 * time.Second, WriteRate: 1 << 20, DescribeRate: 1 << 20, Clusters: e.seeds})
	e.ens = ensSim.Server
	e.ensc = ensSim.Client(t, ens.Config{WriteRate: 1 << 20, DescribeRate: 1 << 20, PageSize: o.pageSize,
		MaxAttempts: o.ensAttempts, BaseBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	qs := mnsSim.EnsureQueues(t, mns.QueueAttributes{VisibilityTimeout: 30 * time.Second}, "tracking", "deadletter")
	e.tracking, e.dlq = qs[0], qs[1]
	return e
}

// senderConfig is the callback configuration of the tests: the shared clock,
// no jitter, http and loopback allowed unless the test changes it.
func (e *env) senderConfig() callback.Config {
	return callback.Config{
		Secrets:   []string{testSecret},
		Now:       e.clock.Now,
		AllowHTTP: true,
		Allow:     []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
		Retry:     callback.Policy{Rand: func() float64 { return 0.5 }},
	}
}

func (e *env) sender(t testing.TB, cfg callback.Config) *callback.Deliverer {
	t.Helper()
	s, err := callback.NewDeliverer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func (e *env) poller(t testing.TB, d Deliverer, edit func(*Config)) *Poller {
	t.Helper()
	cfg := Config{Tracking: e.tracking, DeadLetter: e.dlq, Pools: e.ensc, Deliverer: d,
		ReceiveWait: -1, Now: e.clock.Now}
	if edit != nil {
		edit(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// followWall advances the injected clock with the wall clock (in 50 ms
// steps) until the test ends, so that messages hidden for a moment (a
// deferral) come back during a tick: the queue's visibility runs on the
// injected clock.
func (e *env) followWall(t testing.TB) {
	stop := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() { close(stop); <-done })
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				e.clock.Advance(50 * time.Millisecond)
			}
		}
	}()
}

// createPool creates a pool of size nodes through the ENS API and returns its id.
func (e *env) createPool(t testing.TB, cluster, name string, size int32) string {
	t.Helper()
	resp, err := e.ensc.CreateClusterNodePool(context.Background(), &ens.CreateClusterNodePoolRequest{
		ClusterId:    cluster,
		NodepoolInfo: &ens.NodepoolInfo{Name: name},
		ScalingGroup: &ens.ScalingGroup{ImageId: "m-test", InstanceTypes: []string{"ens.sn1.small"},
			VswitchIds: []string{"vsw-test0001"}, DesiredSize: size, Password: "Test-Passw0rd"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Nodepool.NodepoolInfo.NodepoolId
}

// message is a fresh tracking message as the worker writes it.
func (e *env) message(cluster, name, id, url string) tracking.Message {
	now := e.clock.Now()
	return tracking.Message{Version: tracking.Version, RequestId: "req-" + name, ClusterId: cluster, Name: name,
		NodepoolId: id, CallbackUrl: url, CreatedAt: now, Deadline: now.Add(time.Hour)}
}

// track puts messages on the tracking queue, visible now.
func (e *env) track(t testing.TB, ms ...tracking.Message) {
	t.Helper()
	var outs []mns.Outgoing
	for i := range ms {
		body, err := ms[i].Marshal()
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, mns.Outgoing{Body: body})
	}
	if _, err := e.tracking.SendBatch(context.Background(), outs); err != nil {
		t.Fatal(err)
	}
}

func (e *env) tick(t testing.TB, p *Poller) Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := p.Tick(ctx)
	if err != nil {
		t.Fatalf("Tick: %v", err)
	}
	return s
}

// drain receives and deletes every visible message of q.
func drain(t testing.TB, q *mns.Queue) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	for {
		ms, err := q.Receive(ctx, 16, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 0 {
			return out
		}
		for _, m := range ms {
			out = append(out, m.Body)
			if err := q.Delete(ctx, m.ReceiptHandle); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// inQueue counts the messages of q, visible or not.
func inQueue(t testing.TB, q *mns.Queue) int64 {
	t.Helper()
	a, err := q.Attributes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return a.Active + a.Inactive + a.Delayed
}

// trackedBodies lists the tracking messages left by making them visible
// (advancing the clock a day) and receiving them. Only for the end of a test.
func (e *env) trackedBodies(t testing.TB) []*tracking.Message {
	t.Helper()
	e.clock.Advance(24 * time.Hour)
	var out []*tracking.Message
	for _, b := range drain(t, e.tracking) {
		m, err := tracking.Parse([]byte(b))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// call is one request a receiver got.
type call struct {
	header http.Header
	body   []byte
	event  callback.Event
}

// receiver is a callback endpoint that verifies every request twice: with
// the callback library and with specVerify, an independent implementation
// of the Standard Webhooks spec.
type receiver struct {
	t      testing.TB
	srv    *httptest.Server
	verify *callback.Verifier
	status func(n int) int // status for the n-th request (from 1); nil = 200
	delay  time.Duration
	// ownSecrets: the test verifies signatures itself (callers' secrets).
	ownSecrets bool

	mu    sync.Mutex
	calls []call
}

func newReceiver(t testing.TB, e *env, status func(n int) int) *receiver {
	t.Helper()
	v, err := callback.NewVerifier(callback.VerifierConfig{Secrets: []string{testSecret}, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{t: t, verify: v, status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) URL() string { return r.srv.URL + "/hook" }

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if !r.ownSecrets {
		if err := r.verify.Verify(body, req.Header); err != nil {
			r.t.Errorf("library verification failed: %v", err)
		}
		if !specVerify(testSecret, req.Header, body) {
			r.t.Errorf("spec verification failed for %s", req.Header.Get("webhook-id"))
		}
	}
	ev, err := callback.ParseEvent(body)
	if err != nil {
		r.t.Errorf("callback body: %v", err)
	}
	r.mu.Lock()
	r.calls = append(r.calls, call{header: req.Header.Clone(), body: body, event: ev})
	n := len(r.calls)
	r.mu.Unlock()
	if r.delay > 0 {
		time.Sleep(r.delay)
	}
	code := http.StatusOK
	if r.status != nil {
		code = r.status(n)
	}
	w.WriteHeader(code)
}

func (r *receiver) Calls() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

// specVerify checks a request as a receiver written from the Standard
// Webhooks spec would (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md,
// "Verifying webhook authenticity"): HMAC-SHA256, keyed with the base64
// secret after "whsec_", over "id.timestamp.body", base64, prefixed "v1,",
// compared in constant time with each space-separated signature. It shares
// no code with the library.
func specVerify(secret string, h http.Header, body []byte) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return false
	}
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	if _, err := strconv.ParseInt(ts, 10, 64); err != nil || id == "" {
		return false
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	for _, s := range strings.Fields(h.Get("webhook-signature")) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return true
		}
	}
	return false
}

// timestamp returns the webhook-timestamp of c as a time.
func (c call) timestamp(t testing.TB) time.Time {
	t.Helper()
	s, err := strconv.ParseInt(c.header.Get("webhook-timestamp"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return time.Unix(s, 0)
}

// deadLetters drains the dead-letter queue and decodes its callback records.
func (e *env) deadLetters(t testing.TB) []deadletter.CallbackRecord {
	t.Helper()
	var out []deadletter.CallbackRecord
	for _, b := range drain(t, e.dlq) {
		var dl deadletter.CallbackRecord
		if err := json.Unmarshal([]byte(b), &dl); err != nil {
			t.Fatal(err)
		}
		out = append(out, dl)
	}
	return out
}

// fakeResolver answers every name with addrs.
type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}
