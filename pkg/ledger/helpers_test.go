package ledger

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/dev/otssim"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
)

const (
	testAK = "LTAI5tLedgerTest"
	testSK = "ledger-test-secret"
)

// bundle is a Tablestore simulator behind an httptest server and a Ledger
// on it (table created), sharing one injectable clock.
type bundle struct {
	sim   *otssim.Server
	url   string
	clock *testkit.Clock
	l     *Ledger
}

// setup starts a fresh in-memory simulator and opens a ledger on it; mod
// may adjust the ledger's Config.
func setup(t testing.TB, mod ...func(*Config)) *bundle {
	t.Helper()
	b := startSim(t, otssim.Config{})
	b.l = b.open(t, mod...)
	if _, _, err := b.l.EnsureTable(context.Background()); err != nil {
		t.Fatal(err)
	}
	return b
}

// startSim starts a simulator with cfg (its key pair, clock and skew set
// here) behind an httptest server, without a ledger.
func startSim(t testing.TB, cfg otssim.Config) *bundle {
	t.Helper()
	clock := testkit.NewClock(time.Now().UTC().Truncate(time.Minute).Add(10 * time.Second))
	cfg.AccessKeyID, cfg.AccessKeySecret, cfg.Now = testAK, testSK, clock.Now
	cfg.MaxClockSkew = 365 * 24 * time.Hour // the tests move the clock by days
	sim, err := otssim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(sim)
	t.Cleanup(func() {
		hs.Close()
		if err := sim.Close(); err != nil {
			t.Errorf("otssim Close: %v", err)
		}
	})
	return &bundle{sim: sim, url: hs.URL, clock: clock}
}

// open opens another Ledger (another instance) on the bundle's simulator.
func (b *bundle) open(t testing.TB, mod ...func(*Config)) *Ledger {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	cfg := Config{Endpoint: b.url, Instance: "ledger-test", Now: b.clock.Now, Transport: tr,
		Credentials: func() Credentials { return Credentials{AccessKeyID: testAK, AccessKeySecret: testSK} }}
	for _, m := range mod {
		m(&cfg)
	}
	l, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// writes counts the write requests the simulator has served.
func (b *bundle) writes(t testing.TB) int64 {
	t.Helper()
	st, err := b.sim.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return st.Calls["PutRow"] + st.Calls["UpdateRow"] + st.Calls["DeleteRow"] + st.Calls["BatchWriteRow"]
}

// fault injects f, failing the test if the simulator refuses it.
func (b *bundle) fault(t testing.TB, f otssim.Fault) {
	t.Helper()
	if err := b.sim.InjectFault(f); err != nil {
		t.Fatal(err)
	}
}

// reservation is a valid Reservation of caller's key for the body named
// by digest, received at the bundle's clock.
func (b *bundle) reservation(caller, key, digest, requestID string) Reservation {
	return Reservation{
		Caller: caller, Key: key, Digest: digest, RequestId: requestID,
		ClusterId: "eck-demo0001", Name: "pool-" + digest, Source: "webhook",
		Request: json.RawMessage(`{"ClusterId":"eck-demo0001","NodepoolInfo":{"Name":"pool-` + digest + `"}}`),
		At:      b.clock.Now(),
	}
}

// accept reserves and marks queued a new request, failing the test
// otherwise.
func (b *bundle) accept(t testing.TB, r Reservation) Reserved {
	t.Helper()
	ctx := context.Background()
	res, err := b.l.Reserve(ctx, r)
	if err != nil || res.Queued || res.RequestId != r.RequestId {
		t.Fatalf("Reserve(%s) = %+v, %v; want it new", r.RequestId, res, err)
	}
	if err := b.l.MarkQueued(ctx, res); err != nil {
		t.Fatalf("MarkQueued(%s): %v", r.RequestId, err)
	}
	return res
}

// ids lists the RequestIds of a page.
func ids(p Page) []string {
	out := make([]string, len(p.Requests))
	for i, r := range p.Requests {
		out[i] = r.RequestId
	}
	return out
}

// reqID is the i-th test RequestId.
func reqID(i int) string { return "req_" + strconv.Itoa(i) }
