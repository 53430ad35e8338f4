package poller

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/tracking"
)

// TestCallerEvents: the event of a pool tracked for a caller with its own
// callback secret is signed with that secret only, one of a caller without
// with the shared secret, and each delivery is an audit record naming the
// caller. Under CALLERS a delivery naming no caller, a caller no longer in
// CALLERS, or a URL outside its caller's CallbackHosts (a crafted or
// redriven tracking message) is dead-lettered as refused, with nothing
// sent: never signed with another secret.
func TestCallerEvents(t *testing.T) {
	e := newEnv(t, envOptions{})
	rcv := newReceiver(t, e, nil)
	rcv.ownSecrets = true
	c := clusterID(0)
	own, err := callback.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	track := func(name, who, url string) tracking.Message {
		m := e.message(c, name, e.createPool(t, c, name, 1), url)
		m.Caller = who
		return m
	}
	e.track(t, track("mine", "portal-a", rcv.URL()), track("shared", "team-b", rcv.URL()),
		track("nobody", "", rcv.URL()), track("removed", "gone", rcv.URL()), track("outside", "portal-a", rcv.URL()+"-elsewhere"))
	e.clock.Advance(30 * time.Second)

	cfg := e.senderConfig()
	cfg.Callers = map[string]callback.CallerPolicy{
		"portal-a": {Secrets: []string{own}, AllowURL: func(u string) bool { return u == rcv.URL() }},
		"team-b":   {},
	}
	var logs bytes.Buffer
	p := e.poller(t, e.sender(t, cfg), func(c *Config) {
		c.WithCallers = true
		c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	e.tick(t, p)

	verify := func(secret string, cl call) error {
		v, err := callback.NewVerifier(callback.VerifierConfig{Secrets: []string{secret}, Now: e.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		return v.Verify(cl.body, cl.header)
	}
	calls := rcv.Calls()
	if len(calls) != 2 {
		t.Fatalf("%d calls", len(calls))
	}
	for _, cl := range calls {
		ownErr, sharedErr := verify(own, cl), verify(testSecret, cl)
		if specVerify(own, cl.header, cl.body) != (ownErr == nil) {
			t.Error("the spec implementation and the library disagree")
		}
		switch cl.event.Data.Name {
		case "mine":
			if ownErr != nil || sharedErr == nil {
				t.Errorf("caller's event: own %v, shared %v", ownErr, sharedErr)
			}
		case "shared":
			if ownErr == nil || sharedErr != nil {
				t.Errorf("shared event: own %v, shared %v", ownErr, sharedErr)
			}
		}
	}
	audits := map[string]string{}
	for _, line := range strings.Split(logs.String(), "\n") {
		var m map[string]string
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "audit" {
			audits[m["Name"]] = m["Caller"] + "/" + m["Source"] + "/" + m["Action"] + "/" + m["Decision"] + "/" + m["Reason"]
		}
	}
	want := map[string]string{
		"mine":    "portal-a/callback/deliver/delivered/nodepool.active",
		"shared":  "team-b/callback/deliver/delivered/nodepool.active",
		"nobody":  "/callback/deliver/dead-lettered/nodepool.active: refused",
		"removed": "gone/callback/deliver/dead-lettered/nodepool.active: refused",
		"outside": "portal-a/callback/deliver/dead-lettered/nodepool.active: refused",
	}
	for name, w := range want {
		if audits[name] != w {
			t.Errorf("audit of %s: %q, want %q", name, audits[name], w)
		}
	}
	refused := map[string]bool{}
	for _, dl := range e.deadLetters(t) {
		if dl.Reason == callback.StateRefused && len(dl.Delivery.Attempts) == 1 && dl.Delivery.Attempts[0].Status == 0 {
			refused[dl.Delivery.Event.Data.Name] = true
		}
	}
	if len(refused) != 3 || !refused["nobody"] || !refused["removed"] || !refused["outside"] {
		t.Errorf("refused dead letters %v, want nobody, removed, outside", refused)
	}
}
