package faults

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/dev/localstack"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
)

// 4. Receivers: down (port closed, opened 3 s later), slow (2 s), 500 on
// the first attempt, 410 Gone, and a 302 redirect (never followed).
func testReceivers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{seed: 9})
	// A port with nothing listening; a receiver opens it 3 s later.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downAddr := ln.Addr().String()
	ln.Close()
	want := expectation{}
	paths := []string{"/ok", "/slow", "/flaky"}
	for _, p := range paths {
		name := "rcv" + strings.ReplaceAll(p, "/", "-")
		want[e.submit(name, e.request(name, e.rcv.url+p))] = callback.TypeActive
	}
	gone := e.submit("rcv-gone", e.request("rcv-gone", e.rcv.url+"/gone"))
	want[gone] = ""
	redirect := e.submit("rcv-redirect", e.request("rcv-redirect", e.rcv.url+"/redirect"))
	want[redirect] = ""
	downID := e.submit("rcv-down", e.request("rcv-down", "http://"+downAddr+"/ok"))
	want[downID] = callback.TypeActive
	time.Sleep(3 * time.Second)
	late := newReceiverAt(t, e.sec.Callback, downAddr)
	// Events for the down receiver arrive at the late one: merge them as they come.
	go func() {
		for range 600 {
			time.Sleep(100 * time.Millisecond)
			g := late.byRequest()
			if len(g[downID][callback.TypeActive]) > 0 {
				e.rcv.mu.Lock()
				for typ, ids := range g[downID] {
					for mid, n := range ids {
						for range n {
							testkit.Add(e.rcv.got, downID, typ, mid)
						}
					}
				}
				e.rcv.mu.Unlock()
				return
			}
		}
	}()
	r := e.settle("Receivers: down 3 s, ok, slow 2 s, 500 then 204, 410, 302 → /trap", want, 60*time.Second,
		"410 and 302 deliver nothing by design; 410 → DLQ, later events of that request too")
	if n := e.rcv.hits("/trap"); n != 0 {
		t.Errorf("redirect was followed %d times", n)
	}
	// One attempt in all: the 410 to creating is not retried, and stops
	// every later event of the request to that URL (active is
	// dead-lettered unsent).
	if n := e.rcv.hits("/gone"); n != 1 {
		t.Errorf("410 receiver got %d attempts, want 1 (no retry, no later event)", n)
	}
	if n := e.rcv.hits("/redirect"); n < 1 {
		t.Errorf("redirect receiver got no attempt")
	}
	if r.DLQ < 1 {
		t.Errorf("no dead letter for the 410 receiver")
	}
}

// 4. DNS rebinding, in process through callback.Deliverer (the functions run
// as separate processes on the system resolver, which a test cannot point
// at a fake DNS without root): the name resolves to a public address when
// the URL is checked and to a private one when the sender dials. The
// dial-time check must refuse it; no connection to a non-loopback
// address is ever attempted (the Dial hook records and refuses).
func TestDNSRebinding(t *testing.T) {
	sec := testkit.NewSecrets(t)
	var lookups atomic.Int32
	res := resolverFunc(func(ctx context.Context, network, host string) ([]netip.Addr, error) {
		if lookups.Add(1) == 1 {
			return []netip.Addr{netip.MustParseAddr("93.184.215.14")}, nil // public (never dialed)
		}
		return []netip.Addr{netip.MustParseAddr("169.254.169.254")}, nil // metadata service
	})
	var dials atomic.Int32
	s, err := callback.NewDeliverer(callback.Config{Secrets: []string{sec.Callback}, AllowHTTP: true, Resolver: res,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			dials.Add(1)
			return nil, errors.New("the suite never dials " + address)
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	url := "http://rebind.example:8080/cb"
	if err := s.CheckURL(ctx, url); err != nil {
		t.Fatalf("CheckURL with the public answer: %v", err)
	}
	ev := callback.Event{Type: callback.TypeActive, Timestamp: time.Now(), Data: callback.EventData{RequestId: "req_x", Name: "p"}}
	a := s.Deliver(ctx, url, ev.MessageID(), ev)
	if a.Outcome != callback.Refused {
		t.Errorf("delivery after rebinding: outcome %s (%s), want Refused", a.Outcome, a.Error)
	}
	if n := dials.Load(); n != 0 {
		t.Errorf("%d dials attempted", n)
	}
	// Mixed answers (public + loopback) are refused as a whole.
	lookups.Store(10)
	res2 := resolverFunc(func(context.Context, string, string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("93.184.215.14"), netip.MustParseAddr("127.0.0.1")}, nil
	})
	s2, err := callback.NewDeliverer(callback.Config{Secrets: []string{sec.Callback}, AllowHTTP: true, Resolver: res2,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			dials.Add(1)
			return nil, errors.New("never")
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if a := s2.Deliver(ctx, url, ev.MessageID(), ev); a.Outcome != callback.Refused || dials.Load() != 0 {
		t.Errorf("mixed public/loopback answer: %s %q, dials %d; want Refused, 0", a.Outcome, a.Error, dials.Load())
	}
	record(row{Fault: "Receivers: DNS rebinding public→169.254.169.254 (in-process Sender)", Note: "refused at dial, 0 dials"})
}

type resolverFunc func(ctx context.Context, network, host string) ([]netip.Addr, error)

func (f resolverFunc) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	return f(ctx, network, host)
}

// marker is the password of the secret-scan requests: it must appear in
// the ENS call (positive control) and nowhere else.
const marker = "Mk9faultMARKER7x"

// 5. Security, end to end: signatures, replay, hostile bodies, and a
// marker password scanned for in every captured byte.
func testSecurity(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{seed: 10})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	body := e.request("sec-0", e.rcv.url+"/ok")
	var lastBody []byte
	post := func(h http.Header, b []byte, ctype string) int {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.st.URL()+"/v1/nodepools", bytes.NewReader(b))
		for k, v := range h {
			req.Header[k] = v
		}
		req.Header.Set("Content-Type", ctype)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		resp.Body.Close()
		lastBody = buf.Bytes()
		return resp.StatusCode
	}
	sign := func(secret, id string, ts time.Time, b []byte) http.Header {
		s, err := callback.NewSigner(secret)
		if err != nil {
			t.Fatal(err)
		}
		h, err := s.Headers(id, ts, b)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	other := testkit.NewSecrets(t)
	nested := []byte(strings.Repeat(`{"ClusterId":`, 4000))
	huge := append([]byte(`{"ClusterId":"`), bytes.Repeat([]byte("a"), 70<<10)...)
	cases := []struct {
		name string
		h    http.Header
		b    []byte
		ct   string
		want int
	}{
		{"missing signature", http.Header{}, body, "application/json", 401},
		{"wrong secret", sign(other.Webhook, "msg_w", time.Now(), body), body, "application/json", 401},
		{"expired (−10 min)", sign(e.sec.Webhook, "msg_e", time.Now().Add(-10*time.Minute), body), body, "application/json", 401},
		{"future (+10 min)", sign(e.sec.Webhook, "msg_f", time.Now().Add(10*time.Minute), body), body, "application/json", 401},
		{"tampered body", sign(e.sec.Webhook, "msg_t", time.Now(), body), append(bytes.Clone(body), ' '), "application/json", 401},
		{"oversized 70 KiB", sign(e.sec.Webhook, "msg_o", time.Now(), huge), huge, "application/json", 413},
		{"deeply nested", sign(e.sec.Webhook, "msg_n", time.Now(), nested), nested, "application/json", 400},
		{"malformed", sign(e.sec.Webhook, "msg_m", time.Now(), []byte(`{"ClusterId":`)), []byte(`{"ClusterId":`), "application/json", 400},
		{"not JSON", sign(e.sec.Webhook, "msg_x", time.Now(), []byte("a=b")), []byte("a=b"), "application/x-www-form-urlencoded", 415},
	}
	for _, c := range cases {
		if got := post(c.h, c.b, c.ct); got != c.want {
			t.Errorf("%s: status %d, want %d", c.name, got, c.want)
		}
	}
	if n := e.mnsF.callCount("send"); n != 0 {
		t.Errorf("%d messages queued by refused requests", n)
	}
	// Replay: the same signed request three times within the window.
	h := sign(e.sec.Webhook, "msg_replay", time.Now(), body)
	want := expectation{}
	replayIDs := map[string]bool{}
	for i := range 3 {
		if got := post(h, body, "application/json"); got != http.StatusAccepted {
			t.Fatalf("replay %d: %d, want 202 (idempotent)", i, got)
		}
		var a localstack.Accepted
		if err := json.Unmarshal(lastBody, &a); err != nil {
			t.Fatal(err)
		}
		replayIDs[a.RequestId] = true
		want[a.RequestId] = callback.TypeActive
	}
	if len(replayIDs) != 1 {
		t.Errorf("replays got %d RequestIds, want 1", len(replayIDs))
	}
	e.mu.Lock()
	e.names["sec-0"] = true
	for id := range replayIDs {
		e.accepted[id] = "sec-0"
	}
	e.mu.Unlock()
	// The RequestId of the replayed request, from the accepted callbacks later.
	// Marker password requests: one succeeds, one conflicts (→ failed + DLQ).
	pw := passwordRequest(t, e, "sec-pw", marker, "ens.sn1.small")
	want[e.submit("sec-pw", pw)] = callback.TypeActive
	testkit.WaitFor(t, 30*time.Second, "sec-pw created", func() bool { return len(e.ens.Pools("eck-demo0001")) >= 2 })
	conflict := passwordRequest(t, e, "sec-pw", marker, "ens.sn1.medium")
	want[e.submit("sec-pw", conflict)] = callback.TypeFailed
	r := e.settle("Security: 9 refused inputs, 1 request replayed ×3, marker-password requests (1 ok, 1 conflict)", want, 60*time.Second, "")
	if r.Pools != 2 {
		t.Errorf("pools created = %d, want 2 (sec-0 once despite replays, sec-pw once)", r.Pools)
	}
	// Scan every captured byte for the marker (plain, base64, URL-escaped).
	st, sb, err := testkit.Get(ctx, e.st.URL()+"/v1/clusters/eck-demo0001/nodepools/sec-pw", e.sec.Webhook)
	if err != nil || st != http.StatusOK {
		t.Errorf("status: %d %v", st, err)
	}
	forms := []string{marker, base64.StdEncoding.EncodeToString([]byte(marker)), base64.RawURLEncoding.EncodeToString([]byte(marker))}
	captured := map[string][]byte{
		"function stdout/stderr":                        e.out.Bytes(),
		"MNS traffic (every send, receive, DLQ record)": e.mnsF.wire.Bytes(),
		"callbacks (headers + bodies)":                  e.rcv.rawBytes(),
		"status response":                               sb,
	}
	total := 0
	for where, b := range captured {
		total += len(b)
		for _, f := range forms {
			if bytes.Contains(b, []byte(f)) {
				t.Errorf("marker password (%q) found in %s", f, where)
			}
		}
	}
	if !bytes.Contains(e.ensF.wire.Bytes(), []byte(marker)) {
		t.Errorf("positive control: the marker never reached ENS — the scan proves nothing")
	}
	if !bytes.Contains(e.mnsF.wire.Bytes(), []byte("sec-pw")) {
		t.Errorf("positive control: the pool name is not in the captured MNS traffic")
	}
	t.Logf("scanned %d bytes; marker only in the ENS CreateClusterNodePool call", total)
}

// passwordRequest is the sample request with Password instead of a key pair.
func passwordRequest(t *testing.T, e *env, name, password, itype string) []byte {
	var m map[string]any
	if err := json.Unmarshal(e.request(name, e.rcv.url+"/ok"), &m); err != nil {
		t.Fatal(err)
	}
	sg := m["ScalingGroup"].(map[string]any)
	delete(sg, "KeyPairName")
	sg["Password"] = password
	sg["InstanceTypes"] = []string{itype}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
