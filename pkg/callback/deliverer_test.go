package callback

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callbackurl"
)

func TestDeliverOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		handle         func(http.ResponseWriter, *http.Request, int)
		wantOutcome    Outcome
		wantStatus     int
		wantRetryAfter time.Duration
	}{
		{"200", status(200), Delivered, 200, 0},
		{"204", status(204), Delivered, 204, 0},
		{"500", status(500), Retry, 500, 0},
		{"410", status(410), Gone, 410, 0},
		{"400", status(400), Retry, 400, 0},
		{"302 to private address not followed", func(w http.ResponseWriter, r *http.Request, _ int) {
			http.Redirect(w, r, "http://10.0.0.1/steal", http.StatusFound)
		}, Retry, 302, 0},
		{"429 Retry-After seconds", func(w http.ResponseWriter, _ *http.Request, _ int) {
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(429)
		}, Retry, 429, 120 * time.Second},
		{"503 Retry-After HTTP-date", func(w http.ResponseWriter, _ *http.Request, _ int) {
			// The injected clock is 2026-05-04T10:00:00Z.
			w.Header().Set("Retry-After", "Mon, 04 May 2026 10:10:00 GMT")
			w.WriteHeader(503)
		}, Retry, 503, 10 * time.Minute},
		{"Retry-After 0 clamps to 1s", func(w http.ResponseWriter, _ *http.Request, _ int) {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(503)
		}, Retry, 503, time.Second},
		{"Retry-After huge clamps to 1h", func(w http.ResponseWriter, _ *http.Request, _ int) {
			w.Header().Set("Retry-After", "99999999999999999")
			w.WriteHeader(503)
		}, Retry, 503, time.Hour},
		{"Retry-After date in the past clamps to 1s", func(w http.ResponseWriter, _ *http.Request, _ int) {
			w.Header().Set("Retry-After", "Mon, 04 May 2026 09:00:00 GMT")
			w.WriteHeader(503)
		}, Retry, 503, time.Second},
		{"Retry-After garbage ignored", func(w http.ResponseWriter, _ *http.Request, _ int) {
			w.Header().Set("Retry-After", "later")
			w.WriteHeader(503)
		}, Retry, 503, 0},
		{"large body read partially", func(w http.ResponseWriter, _ *http.Request, _ int) {
			w.WriteHeader(200)
			_, _ = w.Write([]byte(strings.Repeat("x", 1<<20)))
		}, Delivered, 200, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tb := setup(t, nil)
			rc := newReceiver(t, tc.handle)
			ev := sampleEvent()
			a := tb.sender.Deliver(context.Background(), rc.URL+"/hook", ev.MessageID(), ev)
			if a.Outcome != tc.wantOutcome || a.Status != tc.wantStatus || a.RetryAfter != tc.wantRetryAfter {
				t.Errorf("Attempt = %+v, want outcome %s status %d retryAfter %v", a, tc.wantOutcome, tc.wantStatus, tc.wantRetryAfter)
			}
			if (a.Outcome == Delivered) != (a.Error == "") {
				t.Errorf("Error = %q for outcome %s", a.Error, a.Outcome)
			}
			if !a.At.Equal(tb.clock.Now()) {
				t.Errorf("At = %v, want injected clock %v", a.At, tb.clock.Now())
			}
			reqs := rc.Requests()
			if len(reqs) != 1 {
				t.Fatalf("receiver saw %d requests, want 1", len(reqs))
			}
			checkRequest(t, reqs[0], ev, tb.clock.Now())
			// Only the receiver was dialed: a redirect to 10.0.0.1 is not followed.
			for _, addr := range tb.dialer.Dialed() {
				if !strings.HasPrefix(addr, "127.0.0.1:") {
					t.Errorf("dialed %s", addr)
				}
			}
		})
	}
}

// checkRequest checks method-independent request properties: headers,
// body and a signature that the library and the spec implementation accept.
func checkRequest(t *testing.T, r request, ev Event, now time.Time) {
	t.Helper()
	body, _ := ev.Body()
	if string(r.Body) != string(body) {
		t.Errorf("body %s, want %s", r.Body, body)
	}
	if got, want := r.Header.Get("User-Agent"), "ens-nodepool-webhook/1.2.3"; got != want {
		t.Errorf("User-Agent %q, want %q", got, want)
	}
	if got, want := r.Header.Get("Content-Type"), "application/json"; got != want {
		t.Errorf("Content-Type %q, want %q", got, want)
	}
	if got, want := r.Header.Get(HeaderID), ev.MessageID(); got != want {
		t.Errorf("webhook-id %q, want %q", got, want)
	}
	v, err := NewVerifier(VerifierConfig{Secrets: []string{testSecret}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(r.Body, r.Header); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if !specVerify(t, testSecret, r.Header, r.Body) {
		t.Errorf("independent spec verification failed: %v", r.Header)
	}
}

func TestDeliverFreshTimestampPerAttempt(t *testing.T) {
	t.Parallel()
	tb := setup(t, nil)
	rc := newReceiver(t, status(500))
	ev := sampleEvent()
	id := ev.MessageID()
	tb.sender.Deliver(context.Background(), rc.URL, id, ev)
	tb.clock.Add(5 * time.Second)
	tb.sender.Deliver(context.Background(), rc.URL, id, ev)
	r := rc.Requests()
	if len(r) != 2 {
		t.Fatalf("%d requests", len(r))
	}
	if r[0].Header.Get(HeaderID) != r[1].Header.Get(HeaderID) {
		t.Errorf("webhook-id changed across attempts")
	}
	if string(r[0].Body) != string(r[1].Body) {
		t.Errorf("body changed across attempts")
	}
	if r[0].Header.Get(HeaderTimestamp) == r[1].Header.Get(HeaderTimestamp) || r[0].Header.Get(HeaderSignature) == r[1].Header.Get(HeaderSignature) {
		t.Errorf("timestamp/signature not fresh: %v / %v", r[0].Header, r[1].Header)
	}
	checkRequest(t, r[1], ev, tb.clock.Now())
}

func TestDeliverTimeout(t *testing.T) {
	t.Parallel()
	tb := setup(t, func(c *Config) { c.Timeout = 200 * time.Millisecond })
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		w.WriteHeader(200)
	})
	start := time.Now()
	ev := sampleEvent()
	a := tb.sender.Deliver(context.Background(), rc.URL, ev.MessageID(), ev)
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("Deliver took %v with a 200ms timeout", elapsed)
	}
	if a.Outcome != Retry || !strings.Contains(a.Error, "timeout") || a.Status != 0 {
		t.Errorf("Attempt = %+v, want Retry with a timeout error", a)
	}
}

func TestDeliverConnectionRefused(t *testing.T) {
	t.Parallel()
	tb := setup(t, nil)
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	ev := sampleEvent()
	a := tb.sender.Deliver(context.Background(), url, ev.MessageID(), ev)
	if a.Outcome != Retry || a.Error == "" || strings.Contains(a.Error, url) {
		t.Errorf("Attempt = %+v, want Retry with a short error without the URL", a)
	}
}

func TestDeliverURLPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, url string
		allowHTTP bool
	}{
		{"http without AllowHTTP", "http://127.0.0.1/x", false},
		{"ftp", "ftp://127.0.0.1/x", true},
		{"credentials", "https://user:pw@127.0.0.1/x", true},
		{"no host", "https:///x", true},
		{"malformed", "https://[::1/x", true},
		{"bad port", "https://127.0.0.1:99999/x", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tb := setup(t, func(c *Config) { c.AllowHTTP = tc.allowHTTP })
			a := tb.sender.Deliver(context.Background(), tc.url, "msg_1", sampleEvent())
			if a.Outcome != Refused {
				t.Errorf("Attempt = %+v, want Refused", a)
			}
			if strings.Contains(a.Error, "pw") {
				t.Errorf("error leaks credentials: %q", a.Error)
			}
			if err := tb.sender.CheckURL(context.Background(), tc.url); !errors.Is(err, callbackurl.ErrRefused) {
				t.Errorf("CheckURL = %v, want callbackurl.ErrRefused", err)
			}
			if d := tb.dialer.Dialed(); len(d) != 0 {
				t.Errorf("dialed %v", d)
			}
		})
	}
}

func TestDeliverInvalidMessageID(t *testing.T) {
	t.Parallel()
	tb := setup(t, nil)
	rc := newReceiver(t, status(200))
	for _, id := range []string{"", "msg.1", "msg 1"} {
		if a := tb.sender.Deliver(context.Background(), rc.URL, id, sampleEvent()); a.Outcome != Refused {
			t.Errorf("id %q: Attempt = %+v, want Refused", id, a)
		}
	}
	if n := len(rc.Requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

// TestDeliverHTTPS: https works with the default dialer (and its Control
// hook) to an allowlisted loopback TLS receiver.
func TestDeliverHTTPS(t *testing.T) {
	t.Parallel()
	var got request
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = request{Header: r.Header.Clone()}
		w.WriteHeader(204)
	}))
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	tb := setup(t, func(c *Config) {
		c.AllowHTTP = false
		c.Dial = nil // default net.Dialer with the Control hook
		c.TLSConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
	})
	a := tb.sender.Deliver(context.Background(), srv.URL, "msg_tls", sampleEvent())
	if a.Outcome != Delivered || a.Status != 204 {
		t.Fatalf("Attempt = %+v, want Delivered 204", a)
	}
	if got.Header.Get(HeaderSignature) == "" {
		t.Errorf("no signature header")
	}
}

func TestNewDelivererConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no secret", Config{}},
		{"negative timeout", Config{Secrets: []string{testSecret}, Timeout: -1}},
		{"retry-after bounds", Config{Secrets: []string{testSecret}, MinRetryAfter: time.Hour, MaxRetryAfter: time.Second}},
		{"version with space", Config{Secrets: []string{testSecret}, Version: "1 2"}},
	} {
		if _, err := NewDeliverer(tc.cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", tc.name, err)
		}
	}
	s, err := NewDeliverer(Config{Secrets: []string{testSecret}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tr := s.client.Transport.(*http.Transport)
	if tr.Proxy != nil {
		t.Errorf("transport uses a proxy; the dial-time guard would be bypassed")
	}
	if got, want := s.cfg.Timeout, 15*time.Second; got != want {
		t.Errorf("default Timeout %v, want %v", got, want)
	}
	if got, want := s.ua, "ens-nodepool-webhook/dev"; got != want {
		t.Errorf("User-Agent %q, want %q", got, want)
	}
}
