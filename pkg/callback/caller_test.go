package callback

import (
	"context"
	"strings"
	"testing"
)

// TestCallerSecrets: a delivery naming a caller with its own callback
// secret is signed with that secret only; one naming another caller (or
// none) with the shared secret; a bad caller secret is a config error that
// does not print it.
func TestCallerSecrets(t *testing.T) {
	secA, _ := NewSecret()
	secB, _ := NewSecret()
	tb := setup(t, func(c *Config) { c.CallerSecrets = map[string][]string{"portal-a": {secA}, "team-b": {secB}} })
	rc := newReceiver(t, status(200))
	for _, caller := range []string{"portal-a", "team-b", "", "no-secret"} {
		d := NewDelivery(rc.URL+"/cb", sampleEvent(), tb.clock.Now())
		d.Caller = caller
		if a, ok := tb.sender.Try(context.Background(), d); !ok || a.Outcome != Delivered {
			t.Fatalf("%s: %+v", caller, a)
		}
	}
	verifier := func(sec string) *Verifier {
		v, err := NewVerifier(VerifierConfig{Secrets: []string{sec}, Now: tb.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	want := []string{secA, secB, testSecret, testSecret}
	all := []string{secA, secB, testSecret}
	for i, r := range rc.Requests() {
		if n := len(strings.Fields(r.Header.Get(HeaderSignature))); n != 1 {
			t.Errorf("request %d carries %d signatures", i, n)
		}
		for _, sec := range all {
			err := verifier(sec).Verify(r.Body, r.Header)
			if (sec == want[i]) != (err == nil) {
				t.Errorf("request %d: verify with secret %d: %v", i, slicesIndex(all, sec), err)
			}
		}
	}

	_, err := NewDeliverer(Config{Secrets: []string{testSecret}, CallerSecrets: map[string][]string{"x": {"whsec_c2hvcnQtc2VjcmV0"}}})
	if err == nil || strings.Contains(err.Error(), "c2hvcnQ") {
		t.Errorf("bad caller secret: %v", err)
	}
}

func slicesIndex(s []string, v string) int {
	for i := range s {
		if s[i] == v {
			return i
		}
	}
	return -1
}
