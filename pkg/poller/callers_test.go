package poller

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
)

// TestCallerEvents: the event of a pool tracked for a caller with its own
// callback secret is signed with that secret only, and its delivery is an
// audit record naming the caller; a pool tracked without a caller under
// CALLERS is audited with no caller (not as the simple mode's "default").
func TestCallerEvents(t *testing.T) {
	e := newEnv(t, envOptions{})
	rcv := newReceiver(t, e, nil)
	rcv.ownSecrets = true
	c := clusterID(0)
	own, err := callback.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	mine := e.message(c, "mine", e.createPool(t, c, "mine", 1), rcv.URL())
	mine.Caller = "portal-a"
	shared := e.message(c, "shared", e.createPool(t, c, "shared", 1), rcv.URL())
	e.track(t, mine, shared)
	e.clock.Advance(30 * time.Second)

	cfg := e.senderConfig()
	cfg.CallerSecrets = map[string][]string{"portal-a": {own}}
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
	if audits["mine"] != "portal-a/callback/deliver/delivered/nodepool.active" || audits["shared"] != "/callback/deliver/delivered/nodepool.active" {
		t.Errorf("audit records %v", audits)
	}
}
