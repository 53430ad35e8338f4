package intake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/ensnodepool/webhook/pkg/dev/testkit"
	"github.com/ensnodepool/webhook/pkg/ens"
	"github.com/ensnodepool/webhook/pkg/fcadapter"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// Test secrets (not used anywhere else). secretOld is the one being
// rotated out; the handler accepts both.
const (
	secretNew = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	secretOld = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
	sealKeys  = "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
)

// testNow is the handler's clock in tests.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// queueHarness is the requests queue the tests read envelopes back from.
// The default is in memory; a test file may swap newQueue for a harness
// over the real queue client and the MNS-compatible service, and every
// test then runs through it.
type queueHarness interface {
	nodepool.Sender
	// Received returns the bodies acknowledged so far, in send order.
	Received(tb testing.TB) []string
	// Fail makes the next sends fail (true) or succeed (false).
	Fail(bool)
}

var newQueue = func(tb testing.TB) queueHarness { return &memQueue{} }

// memQueue is an in-memory Sender.
type memQueue struct {
	mu     sync.Mutex
	bodies []string
	fail   bool
}

var _ nodepool.Sender = (*memQueue)(nil)

func (q *memQueue) Send(ctx context.Context, body string) (string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fail {
		return "", errors.New("mns: connection refused")
	}
	q.bodies = append(q.bodies, body)
	return "msg-" + strconv.Itoa(len(q.bodies)), nil
}

func (q *memQueue) Received(testing.TB) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]string(nil), q.bodies...)
}

func (q *memQueue) Fail(b bool) { q.mu.Lock(); q.fail = b; q.mu.Unlock() }

// fakePools is a PoolReader with a func field.
type fakePools struct {
	fn func(ctx context.Context, clusterID string) ([]ens.NodePool, error)
}

var _ nodepool.PoolReader = fakePools{}

func (f fakePools) DescribeClusterNodePools(ctx context.Context, clusterID string) ([]ens.NodePool, error) {
	return f.fn(ctx, clusterID)
}

type testBundle struct {
	h      *Handler
	queue  queueHarness
	sealer *nodepool.Sealer
	logs   *testkit.SyncBuffer
}

func setup(tb testing.TB, mod ...func(*Config)) *testBundle {
	tb.Helper()
	keys, err := nodepool.ParseKeys(sealKeys)
	if err != nil {
		tb.Fatal(err)
	}
	sealer, err := nodepool.NewSealer(keys)
	if err != nil {
		tb.Fatal(err)
	}
	q := newQueue(tb)
	logs := &testkit.SyncBuffer{}
	cfg := Config{
		Secrets: []string{secretNew, secretOld},
		Sealer:  sealer,
		Queue:   q,
		Pools: fakePools{fn: func(context.Context, string) ([]ens.NodePool, error) {
			return nil, nil
		}},
		Now:           func() time.Time { return testNow },
		Logger:        fcadapter.NewLogger(logs, fcadapter.LogConfig{Level: slog.LevelDebug}), // as the function logs
		StatusURLBase: "https://hooks.example.com/",
	}
	for _, m := range mod {
		m(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return &testBundle{h: h, queue: q, sealer: sealer, logs: logs}
}

func readFile(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// sign sets Standard Webhooks headers made by the reference library.
func sign(tb testing.TB, r *http.Request, secret, msgID string, at time.Time, body []byte) {
	tb.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		tb.Fatal(err)
	}
	sig, err := wh.Sign(msgID, at, body)
	if err != nil {
		tb.Fatal(err)
	}
	r.Header.Set(HeaderWebhookID, msgID)
	r.Header.Set(HeaderWebhookTimestamp, strconv.FormatInt(at.Unix(), 10))
	r.Header.Set(HeaderWebhookSignature, sig)
}

// post builds a signed POST /v1/nodepools.
func post(tb testing.TB, body []byte) *http.Request {
	tb.Helper()
	r := httptest.NewRequest(http.MethodPost, "/v1/nodepools", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	sign(tb, r, secretNew, "msg_test1", testNow, body)
	return r
}

func (b *testBundle) do(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	b.h.ServeHTTP(w, r)
	return w
}

type problemBody struct {
	Type      string                `json:"type"`
	Title     string                `json:"title"`
	Status    int                   `json:"status"`
	Detail    string                `json:"detail"`
	Code      string                `json:"code"`
	RequestId string                `json:"requestId"`
	Errors    []nodepool.FieldError `json:"errors"`
}

// mustProblem checks status and problem+json and returns the problem.
func mustProblem(tb testing.TB, w *httptest.ResponseRecorder, status int) problemBody {
	tb.Helper()
	if w.Code != status {
		tb.Fatalf("status = %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		tb.Fatalf("Content-Type = %q", ct)
	}
	var p problemBody
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		tb.Fatalf("problem body: %v: %s", err, w.Body)
	}
	if p.Status != status || p.Title == "" || p.Type == "" || p.Code == "" {
		tb.Errorf("incomplete problem %+v", p)
	}
	return p
}
