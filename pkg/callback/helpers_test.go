package callback

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
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

	"github.com/ensnodepool/webhook/pkg/ens"
)

// testSecret is a fixed 32-byte secret ("whsec_" + base64 of bytes 0..31).
var testSecret = func() string {
	b := make([]byte, 32)
	for i := range b {
		b[i] = byte(i)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}()

// specSign is an independent implementation of Standard Webhooks v1 written
// from the spec (spec/standard-webhooks.md, "Signature scheme"): HMAC-SHA256
// keyed with the base64-decoded secret over "msg_id.timestamp.payload",
// base64-encoded, prefixed "v1,". It shares no code with the library.
func specSign(t testing.TB, secret, id string, ts int64, body []byte) string {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatalf("specSign: %v", err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + strconv.FormatInt(ts, 10) + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// specVerify checks a request the way a receiver following the spec would:
// any space-separated "v1,<sig>" equal (constant time) to specSign.
func specVerify(t testing.TB, secret string, h http.Header, body []byte) bool {
	t.Helper()
	ts, err := strconv.ParseInt(h.Get("webhook-timestamp"), 10, 64)
	if err != nil {
		return false
	}
	want := specSign(t, secret, h.Get("webhook-id"), ts, body)
	for _, s := range strings.Fields(h.Get("webhook-signature")) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return true
		}
	}
	return false
}

// clock is an injectable clock safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// resolverFunc adapts a function to Resolver.
type resolverFunc func(ctx context.Context, network, host string) ([]netip.Addr, error)

func (f resolverFunc) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	return f(ctx, network, host)
}

// staticResolver answers from a map and fails for other names; it never
// touches the network.
func staticResolver(m map[string][]string) Resolver {
	return resolverFunc(func(_ context.Context, _, host string) ([]netip.Addr, error) {
		ss, ok := m[host]
		if !ok {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		out := make([]netip.Addr, 0, len(ss))
		for _, s := range ss {
			out = append(out, netip.MustParseAddr(s))
		}
		return out, nil
	})
}

// dialRecorder wraps a real dialer limited to loopback and records every
// address dialed. Dialing anything else fails the test and is not attempted.
type dialRecorder struct {
	t     testing.TB
	mu    sync.Mutex
	addrs []string
}

func (d *dialRecorder) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	d.mu.Lock()
	d.addrs = append(d.addrs, address)
	d.mu.Unlock()
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !ap.Addr().IsLoopback() {
		d.t.Errorf("test dialer asked to dial non-loopback %q", address)
		return nil, errors.New("test: refusing to dial non-loopback")
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, address)
}

func (d *dialRecorder) Dialed() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.addrs...)
}

var loopbackAllow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

type testBundle struct {
	sender *Deliverer
	clock  *clock
	dialer *dialRecorder
	cfg    Config
}

// setup returns a Deliverer on an injected clock with a recording dialer.
// By default loopback is allowlisted and http allowed (local mode); mod
// adjusts the Config before NewDeliverer.
func setup(t *testing.T, mod func(*Config)) *testBundle {
	t.Helper()
	tb := &testBundle{clock: newClock(), dialer: &dialRecorder{t: t}}
	cfg := Config{
		Secrets:   []string{testSecret},
		Version:   "1.2.3",
		Allow:     loopbackAllow,
		AllowHTTP: true,
		Now:       tb.clock.Now,
		Dial:      tb.dialer.Dial,
		Resolver:  staticResolver(nil),
		Retry:     Policy{Rand: func() float64 { return 0.5 }},
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := NewDeliverer(cfg)
	if err != nil {
		t.Fatalf("NewDeliverer: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	tb.sender, tb.cfg = s, cfg
	return tb
}

// request is what a receiver saw.
type request struct {
	Header http.Header
	Body   []byte
}

// receiver is an httptest server that records requests and answers with
// handle (default 200).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []request
	handle func(w http.ResponseWriter, r *http.Request, n int)
}

func newReceiver(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, n int)) *receiver {
	t.Helper()
	rc := &receiver{handle: handle}
	rc.Server = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, request{Header: r.Header.Clone(), Body: body})
	n := len(rc.reqs)
	rc.mu.Unlock()
	if rc.handle != nil {
		rc.handle(w, r, n)
	}
}

func (rc *receiver) Requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.reqs...)
}

func status(code int) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, _ *http.Request, _ int) { w.WriteHeader(code) }
}

// sampleEvent is a fixed nodepool.active event.
func sampleEvent() Event {
	return Event{
		Type:      TypeActive,
		Timestamp: time.Date(2026, 5, 4, 9, 58, 7, 123000000, time.UTC),
		Data: EventData{
			RequestId:  "req-0001",
			ClusterId:  "eck-demo0001",
			Name:       "pool-a",
			NodepoolId: "np-0001",
			Status:     &ens.NodePoolStatus{DesiredNodes: 2, ServingNodes: 2, TotalNodes: 2, State: "active"},
		},
	}
}
