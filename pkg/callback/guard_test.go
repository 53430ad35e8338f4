package callback

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ensnodepool/webhook/pkg/callbackurl"
)

// noDial fails the test if the guard lets a dial through.
func noDial(t *testing.T) DialFunc {
	return func(_ context.Context, _, address string) (net.Conn, error) {
		t.Errorf("dialed %s; the guard should have refused it", address)
		return nil, errors.New("test: no dial")
	}
}

// TestSSRFRefused: each destination is refused without an allowlist; none is dialed.
func TestSSRFRefused(t *testing.T) {
	t.Parallel()
	resolver := staticResolver(map[string][]string{
		"evil.test":    {"127.0.0.1"},
		"meta.test":    {"100.100.100.200"},
		"v6.test":      {"::1"},
		"mapped.test":  {"::ffff:10.1.2.3"},
		"mixed.test":   {"93.184.216.34", "10.0.0.1"},
		"private.test": {"192.168.0.10"},
	})
	tests := []struct{ url, reason string }{
		{"http://127.0.0.1:8080/cb", "loopback"},
		{"http://10.0.0.1/cb", "private"},
		{"http://169.254.169.254/latest/meta-data/", "link-local"},
		{"http://100.100.100.200/latest/meta-data/", "CGNAT"},
		{"http://[::1]:8080/cb", "loopback"},
		{"http://evil.test/cb", "loopback"},
		{"http://evil.test./cb", "loopback"},
		{"https://meta.test/cb", "CGNAT"},
		{"https://v6.test/cb", "loopback"},
		{"https://mapped.test/cb", "private"},
		{"https://mixed.test/cb", "private"},
		{"https://private.test/cb", "private"},
		{"http://0.0.0.0/cb", "unspecified"},
		{"http://[::ffff:127.0.0.1]/cb", "loopback"},
		{"http://[fe80::1%25eth0]/cb", "link-local"},
		{"http://2130706433/cb", ""}, // decimal 127.0.0.1: not an IP literal, so resolved (and unknown here)
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			t.Parallel()
			tb := setup(t, func(c *Config) {
				c.Allow = nil
				c.Resolver = resolver
				c.Dial = noDial(t)
			})
			a := tb.sender.Deliver(context.Background(), tc.url, "msg_1", sampleEvent())
			if tc.reason == "" {
				if a.Outcome != Retry || !strings.Contains(a.Error, "dns") {
					t.Errorf("Attempt = %+v, want a DNS failure", a)
				}
				return
			}
			if a.Outcome != Refused || !strings.Contains(a.Error, tc.reason) {
				t.Errorf("Attempt = %+v, want Refused (%s)", a, tc.reason)
			}
			if err := tb.sender.CheckURL(context.Background(), tc.url); !errors.Is(err, callbackurl.ErrRefused) {
				t.Errorf("CheckURL = %v, want callbackurl.ErrRefused", err)
			}
		})
	}
}

// TestSSRFAllowlisted: an allowlisted loopback receiver reached by IP and
// by a name resolving to it gets the callback.
func TestSSRFAllowlisted(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, status(200))
	port := rc.Listener.Addr().(*net.TCPAddr).Port
	for _, host := range []string{"127.0.0.1", "receiver.test"} {
		tb := setup(t, func(c *Config) {
			c.Allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
			c.Resolver = staticResolver(map[string][]string{"receiver.test": {"127.0.0.1"}})
		})
		url := "http://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/cb"
		a := tb.sender.Deliver(context.Background(), url, "msg_1", sampleEvent())
		if a.Outcome != Delivered {
			t.Errorf("%s: Attempt = %+v, want Delivered", host, a)
		}
		if err := tb.sender.CheckURL(context.Background(), url); err != nil {
			t.Errorf("%s: CheckURL = %v", host, err)
		}
	}
	if got, want := len(rc.Requests()), 2; got != want {
		t.Errorf("receiver saw %d requests, want %d", got, want)
	}
	// The allowlist is exact: 127.0.0.2 is still refused.
	tb := setup(t, func(c *Config) {
		c.Allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		c.Dial = noDial(t)
	})
	if a := tb.sender.Deliver(context.Background(), "http://127.0.0.2/cb", "msg_1", sampleEvent()); a.Outcome != Refused {
		t.Errorf("127.0.0.2: Attempt = %+v, want Refused", a)
	}
}

// TestDNSRebinding: a name that resolves to a public address when the URL
// is checked and to loopback when it is dialed is refused at dial time.
func TestDNSRebinding(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	rebinding := resolverFunc(func(context.Context, string, string) ([]netip.Addr, error) {
		if calls.Add(1) == 1 {
			return []netip.Addr{netip.MustParseAddr("93.184.216.34")}, nil
		}
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	})
	tb := setup(t, func(c *Config) {
		c.Allow = nil
		c.Resolver = rebinding
		c.Dial = noDial(t)
	})
	const url = "https://rebind.test/cb"
	if err := tb.sender.CheckURL(context.Background(), url); err != nil {
		t.Fatalf("CheckURL (first answer public) = %v", err)
	}
	a := tb.sender.Deliver(context.Background(), url, "msg_1", sampleEvent())
	if a.Outcome != Refused || !strings.Contains(a.Error, "loopback") {
		t.Errorf("Attempt = %+v, want Refused at dial time", a)
	}
}

// TestPublicAddressReachesDial: a public answer is dialed as the checked IP
// literal. The test stops at the dial hook; nothing leaves the machine.
func TestPublicAddressReachesDial(t *testing.T) {
	t.Parallel()
	var dialed []string
	tb := setup(t, func(c *Config) {
		c.Allow = nil
		c.Resolver = staticResolver(map[string][]string{"example.test": {"93.184.216.34", "2606:2800:220:1::1"}})
		c.Dial = func(_ context.Context, _, address string) (net.Conn, error) {
			dialed = append(dialed, address)
			return nil, errors.New("stopped at dial hook")
		}
	})
	a := tb.sender.Deliver(context.Background(), "https://example.test/cb", "msg_1", sampleEvent())
	if a.Outcome != Retry || !strings.Contains(a.Error, "stopped at dial hook") {
		t.Errorf("Attempt = %+v, want Retry from the dial hook", a)
	}
	want := []string{"93.184.216.34:443", "[2606:2800:220:1::1]:443"}
	if strings.Join(dialed, ",") != strings.Join(want, ",") {
		t.Errorf("dialed %v, want %v", dialed, want)
	}
}

// TestControlHook: the net.Dialer Control hook refuses the socket address itself.
func TestControlHook(t *testing.T) {
	t.Parallel()
	g := &guard{allow: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:80", false},
		{"[::1]:443", false},
		{"[::ffff:169.254.169.254]:80", false},
		{"100.100.100.200:80", false},
		{"10.1.2.3:443", true},
		{"[::ffff:10.1.2.3]:443", true},
		{"10.2.0.1:443", false},
		{"8.8.8.8:443", true},
		{"not-an-addr", false},
	} {
		err := g.control("tcp", tc.addr, nil)
		if (err == nil) != tc.ok {
			t.Errorf("control(%s) = %v, want ok=%v", tc.addr, err, tc.ok)
		}
		if err != nil && !errors.Is(err, callbackurl.ErrRefused) {
			t.Errorf("control(%s) = %v, not callbackurl.ErrRefused", tc.addr, err)
		}
	}
}

// TestRedirectNotFollowed is explicit about the private redirect target
// never being dialed, with a resolver that would map it.
func TestRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		http.Redirect(w, r, "http://internal.test/admin", http.StatusTemporaryRedirect)
	})
	var lookups atomic.Int32
	tb := setup(t, func(c *Config) {
		c.Resolver = resolverFunc(func(context.Context, string, string) ([]netip.Addr, error) {
			lookups.Add(1)
			return []netip.Addr{netip.MustParseAddr("10.0.0.1")}, nil
		})
	})
	a := tb.sender.Deliver(context.Background(), rc.URL, "msg_1", sampleEvent())
	if a.Outcome != Retry || a.Status != 307 {
		t.Errorf("Attempt = %+v, want Retry 307", a)
	}
	if n := lookups.Load(); n != 0 {
		t.Errorf("redirect target resolved %d times", n)
	}
	if d := tb.dialer.Dialed(); len(d) != 1 {
		t.Errorf("dialed %v, want only the receiver", d)
	}
}
