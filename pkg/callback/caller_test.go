package callback

import (
	"context"
	"strings"
	"testing"
)

// TestCallerPolicies: with Callers, a delivery is signed with its caller's
// own secret only (or the shared one for a caller without), and sent only
// to a URL the caller's policy allows, checked at the attempt itself; a
// delivery naming no caller or one not (or no longer) in CALLERS is
// refused without sending or signing anything. Without Callers a delivery
// naming a caller is refused too. A bad caller secret is a config error
// that does not print it.
func TestCallerPolicies(t *testing.T) {
	secA, _ := NewSecret()
	rc := newReceiver(t, status(200))
	allowA := func(u string) bool { return strings.HasPrefix(u, rc.URL+"/a/") }
	tb := setup(t, func(c *Config) {
		c.Callers = map[string]CallerPolicy{"portal-a": {Secrets: []string{secA}, AllowURL: allowA}, "team-b": {}}
	})
	simple := setup(t, nil)
	tests := []struct {
		name, caller, path string
		d                  *Deliverer
		want               Outcome
		signedWith         string
	}{
		{"own secret", "portal-a", "/a/1", tb.sender, Delivered, secA},
		{"shared secret", "team-b", "/b/2", tb.sender, Delivered, testSecret},
		{"outside the caller's hosts", "portal-a", "/b/3", tb.sender, Refused, ""},
		{"no caller under CALLERS", "", "/a/4", tb.sender, Refused, ""},
		{"caller removed from CALLERS", "gone", "/a/5", tb.sender, Refused, ""},
		{"simple mode", "", "/s/6", simple.sender, Delivered, testSecret},
		{"a caller in simple mode", "portal-a", "/a/7", simple.sender, Refused, ""},
	}
	verify := func(sec string, body []byte, h map[string][]string) error {
		v, err := NewVerifier(VerifierConfig{Secrets: []string{sec}, Now: tb.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		return v.Verify(body, h)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(rc.Requests())
			d := NewDelivery(rc.URL+tt.path, sampleEvent(), tb.clock.Now())
			d.Caller = tt.caller
			a, ok := tt.d.Try(context.Background(), d)
			if !ok || a.Outcome != tt.want {
				t.Fatalf("attempt %+v, want %s", a, tt.want)
			}
			reqs := rc.Requests()[before:]
			if tt.want != Delivered {
				if len(reqs) != 0 || d.State != StateRefused || strings.Contains(a.Error, tt.caller+"\"") {
					t.Fatalf("refused delivery: %d requests sent, state %s, error %q", len(reqs), d.State, a.Error)
				}
				return
			}
			if len(reqs) != 1 || len(strings.Fields(reqs[0].Header.Get(HeaderSignature))) != 1 {
				t.Fatalf("want 1 request with 1 signature, got %d", len(reqs))
			}
			for _, sec := range []string{secA, testSecret} {
				if err := verify(sec, reqs[0].Body, reqs[0].Header); (sec == tt.signedWith) != (err == nil) {
					t.Errorf("verify with the %s secret: %v", map[bool]string{true: "caller's", false: "shared"}[sec == secA], err)
				}
			}
		})
	}

	_, err := NewDeliverer(Config{Secrets: []string{testSecret}, Callers: map[string]CallerPolicy{"x": {Secrets: []string{"whsec_c2hvcnQtc2VjcmV0"}}}})
	if err == nil || strings.Contains(err.Error(), "c2hvcnQ") {
		t.Errorf("bad caller secret: %v", err)
	}
}
