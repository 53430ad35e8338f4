package ledger

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/dev/otssim"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
)

// A store that is down (nothing listens, or it accepts and never answers)
// costs each call at most Config.Timeout, the SDK's retries included, and
// comes back as ErrUnavailable: intake answers 503 and nothing is reserved.
func TestStoreDownIsUnavailableWithinTimeout(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	hanging, accepted := testkit.HangingHost(t)

	const timeout = 900 * time.Millisecond
	for _, tc := range []struct{ name, endpoint string }{{"Refused", closed}, {"Hanging", hanging}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, err := Open(context.Background(), Config{Endpoint: tc.endpoint, Instance: "inst", Credentials: staticCreds, Timeout: timeout})
			if err != nil {
				t.Fatal(err)
			}
			calls := map[string]func() error{
				"Reserve": func() error {
					_, err := l.Reserve(context.Background(), Reservation{Key: "k", Digest: "d", RequestId: "req_1",
						ClusterId: "c", Name: "n", Request: []byte(`{}`), At: time.Now()})
					return err
				},
				"Event": func() error {
					return l.Event(context.Background(), "req_1", Event{Type: "nodepool.creating", Sequence: 1, At: time.Now()})
				},
				"Quota": func() error { return l.Quota(context.Background(), "acme", Limits{PerMinute: 1}) },
				"Get":   func() error { _, err := l.Get(context.Background(), "req_1"); return err },
			}
			for name, call := range calls {
				start := time.Now()
				err := call()
				took := time.Since(start)
				if !errors.Is(err, ErrUnavailable) {
					t.Errorf("%s: err = %v, want ErrUnavailable", name, err)
				}
				if took > timeout+250*time.Millisecond {
					t.Errorf("%s took %v, budget %v", name, took, timeout)
				}
			}
		})
	}
	t.Cleanup(func() {
		if accepted() == 0 {
			t.Error("the hanging host saw no connection")
		}
	})
}

// A cancelled context and missing credentials fail before anything is sent.
func TestNoCallWithoutContextOrCredentials(t *testing.T) {
	t.Parallel()
	hanging, accepted := testkit.HangingHost(t)
	empty := func() Credentials { return Credentials{} }
	l, err := Open(context.Background(), Config{Endpoint: hanging, Instance: "inst", Credentials: empty})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Get(context.Background(), "req_1"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("no credentials: err = %v", err)
	}
	l.cfg.Credentials = staticCreds
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Get(ctx, "req_1"); !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: err = %v", err)
	}
	if n := accepted(); n != 0 {
		t.Fatalf("%d connections made", n)
	}
}

// The SDK asks Config.Credentials before every attempt, so one Ledger
// follows the STS credentials each FC invocation brings.
func TestCredentialsPerInvocation(t *testing.T) {
	t.Parallel()
	b := startSim(t, otssim.Config{SecurityToken: "sts-token-2"})
	var current atomic.Pointer[Credentials]
	current.Store(&Credentials{AccessKeyID: testAK, AccessKeySecret: testSK, SecurityToken: "sts-token-1"})
	l := b.open(t, func(c *Config) { c.Credentials = func() Credentials { return *current.Load() } })
	ctx := context.Background()
	if _, _, err := l.EnsureTable(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("with an expired token: err = %v, want ErrUnavailable", err)
	}
	current.Store(&Credentials{AccessKeyID: testAK, AccessKeySecret: testSK, SecurityToken: "sts-token-2"})
	if _, _, err := l.EnsureTable(ctx); err != nil {
		t.Fatalf("with the next invocation's token: %v", err)
	}
}

// The minute's counter is sent once: when its answer is lost the call is
// ErrUnavailable, and the increment the store applied counts once.
func TestQuotaIncrementNotResent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	lim := Limits{PerMinute: 2}
	b.fault(t, otssim.Fault{Mode: otssim.FaultDrop, After: true, Ops: []string{"UpdateRow"}, Count: 1})
	if err := b.l.Quota(ctx, "acme", lim); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("lost answer: err = %v, want ErrUnavailable", err)
	}
	if err := b.l.Quota(ctx, "acme", lim); err != nil {
		t.Fatalf("second of the minute: %v", err)
	}
	if err := b.l.Quota(ctx, "acme", lim); !errors.Is(err, ErrQuota) {
		t.Fatalf("third of the minute: err = %v, want ErrQuota", err)
	}
	if st, _ := b.sim.Stats(); st.Calls["UpdateRow"] != 3 {
		t.Fatalf("UpdateRow sent %d times for 3 calls", st.Calls["UpdateRow"])
	}
}
