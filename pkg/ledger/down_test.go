package ledger

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/dev/simtest"
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
	hanging, accepted := simtest.HangingHost(t)

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
	hanging, accepted := simtest.HangingHost(t)
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
