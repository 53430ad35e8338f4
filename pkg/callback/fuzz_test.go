package callback

import (
	"context"
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callbackurl"
)

// FuzzCheckURL feeds arbitrary URLs through the guard with a resolver that
// maps every name to loopback: no panic, and nothing is ever accepted
// without an allowlist except public IP literals.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"https://example.test/cb", "http://127.0.0.1:80/", "https://[::1]/", "https://[fe80::1%25eth0]/",
		"https://100.100.100.200/", "https://8.8.8.8/", "https://u:p@8.8.8.8/", "ftp://x", "https://0x7f.1/", "https://[::ffff:7f00:1]/"} {
		f.Add(s)
	}
	g := &guard{resolver: resolverFunc(func(context.Context, string, string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	})}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := g.parseURL(raw)
		if err != nil {
			return
		}
		addrs, err := g.resolve(context.Background(), "tcp", u.Hostname())
		if err != nil {
			return
		}
		for _, a := range addrs {
			if ok, _ := callbackurl.Classify(a); !ok {
				t.Fatalf("%q accepted with non-public %s", raw, a)
			}
		}
	})
}

// FuzzVerify: arbitrary headers and bodies never panic the verifier, and it
// accepts only what the independent spec implementation also accepts.
func FuzzVerify(f *testing.F) {
	now := time.Unix(1777888888, 0)
	s, _ := NewSigner(testSecret)
	body := []byte(`{"type":"nodepool.active"}`)
	sig, _ := s.Sign("msg_1", now, body)
	f.Add("msg_1", "1777888888", sig, body)
	f.Add("msg_1", "1777888888", sig+" v1,AAAA", body)
	f.Add("msg_1", "1777888888", "v1,", body)
	f.Add("", "", "", []byte{})
	f.Add("msg.1", "-1", "v1a,xyz v1", []byte("{}"))
	v, err := NewVerifier(VerifierConfig{Secrets: []string{testSecret}, Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
		if v.Verify(body, h) != nil {
			return
		}
		n, err := strconv.ParseInt(h.Get(HeaderTimestamp), 10, 64)
		if err != nil || n < now.Unix()-300 || n > now.Unix()+300 {
			t.Fatalf("accepted timestamp %q", ts)
		}
		if !specVerify(t, testSecret, h, body) {
			t.Fatalf("accepted a signature the spec implementation rejects: %v", h)
		}
	})
}
