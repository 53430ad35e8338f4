package testkit_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/dev/localstack"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
)

// recorder is a testing.TB that keeps its errors and runs its cleanups
// when told (end), so a test can see what a kit helper reports.
type recorder struct {
	testing.TB
	mu       sync.Mutex
	errs     []string
	cleanups []func()
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }

// end runs the cleanups, last first, and returns the errors reported.
func (r *recorder) end() []string {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	r.cleanups = nil
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.errs
}

// TestCheckStackFailsDrift: the Checker testkit.Start puts on a stack's
// webhook fails the test, when it ends, for an answer the document does
// not describe, and not for one it does.
func TestCheckStackFailsDrift(t *testing.T) {
	t.Parallel()
	sec := testkit.NewSecrets(t)
	for _, c := range []struct {
		name    string
		status  int
		body    string
		failing bool
	}{
		{"documented", http.StatusOK, `{"status":"ok"}` + "\n", false},
		{"another member", http.StatusOK, `{"status":"ok","version":"1"}`, true},
		{"undocumented status", http.StatusNoContent, "", true},
	} {
		rec := &recorder{TB: t}
		cfg := testkit.CheckStack(rec, localstack.Config{WebhookSecrets: []string{sec.Webhook}, CallbackSecrets: []string{sec.Callback}})
		h := cfg.Check.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(c.status)
			_, _ = w.Write([]byte(c.body))
		}))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/healthz", nil))
		if errs := rec.end(); (len(errs) > 0) != c.failing || cfg.Check.Checked() != 1 {
			t.Errorf("%s: reported %q after %d checks; want failing %v", c.name, errs, cfg.Check.Checked(), c.failing)
		}
	}
}

// TestNewReceiverFailsDrift: a receiver from testkit.NewReceiver fails
// the test, when it ends, for a callback the document does not describe
// (here: nodepool.active without Status), signed and accepted by the
// receiver itself.
func TestNewReceiverFailsDrift(t *testing.T) {
	t.Parallel()
	sec := testkit.NewSecrets(t)
	signer, err := callback.NewSigner(sec.Callback)
	if err != nil {
		t.Fatal(err)
	}
	ev := callback.Event{Type: callback.TypeActive, Timestamp: time.Now().UTC(), Data: callback.EventData{
		RequestId: "req_ijd664d3hd2i37rhdq7qsen3jz", ClusterId: "eck-demo0001", Name: "demo-pool", NodepoolId: "np-1", Sequence: 2}}
	body, err := ev.Body()
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{TB: t}
	rcv := testkit.NewReceiver(rec, localstack.ReceiverConfig{Secrets: []string{sec.Callback}})
	h, err := signer.Headers(ev.MessageID(), time.Now(), body)
	if err != nil {
		t.Fatal(err)
	}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", callback.UserAgentPrefix+callback.Version)
	req, _ := http.NewRequest(http.MethodPost, rcv.URL(), bytes.NewReader(body))
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(rcv.Received()) != 1 {
		t.Fatalf("receiver answered %d and recorded %d callbacks", resp.StatusCode, len(rcv.Received()))
	}
	errs := rec.end()
	if len(errs) != 1 || !strings.Contains(errs[0], "callback nodepool.active") {
		t.Errorf("reported %q, want the active callback without Status", errs)
	}
}
