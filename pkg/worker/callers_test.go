package worker_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/caller"
	"github.com/ensnodepool/webhook/pkg/nodepool"
	"github.com/ensnodepool/webhook/pkg/worker"
)

// Two callers' secrets for the tests (used nowhere else).
const (
	secretA = "whsec_d29ya2VyLWNhbGxlcnMtdGVzdC1hLTAwMDAwMDAwMDA="
	secretB = "whsec_d29ya2VyLWNhbGxlcnMtdGVzdC1iLTAwMDAwMDAwMDA="
)

// TestCallersRecheck: with CALLERS, the worker establishes the caller
// before it trusts anything in a message: only an envelope signed with one
// of its caller's secrets is read, and the caller's policy is checked
// again before anything is created. A message no caller vouches for — no
// caller, an unsigned version-1 envelope naming one (the forged envelope:
// a callback outside the caller's hosts and an invalid size, or an unknown
// seal key), a caller not in CALLERS, another caller's signature, a signed
// envelope naming another caller inside — is dead-lettered and told to no
// one (no event, so nothing is signed as anyone). An authenticated request
// outside its caller's policy is told nodepool.failed Forbidden at a
// callback inside the caller's CallbackHosts, and not told at one outside.
// The tracking message carries the caller, so the poller signs its events
// with that caller's secret.
func TestCallersRecheck(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	host := strings.TrimPrefix(b.recv.srv.URL, "http://")
	set, err := caller.Parse([]byte(`[{"Id":"portal-a","Secrets":["` + secretA + `"],"Clusters":["*"],"MaxDesiredSize":3,"CallbackHosts":["` + host + `"]},
		{"Id":"team-b","Secrets":["` + secretB + `"],"Clusters":["eck-none*"]}]`))
	if err != nil {
		t.Fatal(err)
	}
	keyOf := func(id string) []byte {
		c, _ := set.Lookup(id)
		return c.EnvelopeKeys()[0]
	}
	policies := map[string]callback.CallerPolicy{}
	for _, c := range set.Callers() {
		policies[c.Id] = callback.CallerPolicy{AllowURL: c.AllowsCallback}
	}
	sender, err := callback.NewDeliverer(callback.Config{Secrets: []string{testCallbackSecret}, Callers: policies, AllowHTTP: true,
		Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sender.Close() })
	w := b.withWorker(t, func(c *worker.Config) { c.Callers, c.Deliverer = set, sender })
	outside := "http://localhost:" + mustPort(t, b.recv.URL()) + "/hook"
	envelope := func(name, who string, size int32, cb string) *nodepool.Envelope {
		r := b.request(0, name)
		r.ScalingGroup.DesiredSize = size
		if cb != "" {
			r.Callback.Url = cb
		}
		env, err := nodepool.NewEnvelope(r, "req_"+name, nodepool.SourceQueue, time.Now(), nil)
		if err != nil {
			t.Fatal(err)
		}
		env.Caller = who
		return env
	}
	signed := func(env *nodepool.Envelope, key []byte) string {
		msg, err := env.Sign(key)
		if err != nil {
			t.Fatal(err)
		}
		return string(msg)
	}
	plain := func(env *nodepool.Envelope) string {
		msg, err := env.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return string(msg)
	}
	forgedSize := plain(envelope("forgedsize", "portal-a", 2, outside))
	forgedSize = strings.Replace(forgedSize, `"DesiredSize":2`, `"DesiredSize":101`, 1)
	sealed := envelope("forgedseal", "portal-a", 2, outside)
	sealed.Request.ScalingGroup.KeyPairName, sealed.SealedPassword = "", "v1.nokey.AAAA"
	forgedSeal := plain(sealed)
	// Signed by portal-a, naming team-b inside: built by the documented
	// recipe, HMAC-SHA256(EnvelopeKey, "v2." + Caller + "." + Envelope).
	inner := plain(envelope("swapped", "team-b", 1, ""))
	mac := hmac.New(sha256.New, keyOf("portal-a"))
	mac.Write([]byte("v2.portal-a." + inner))
	swappedMsg, _ := json.Marshal(nodepool.SignedEnvelope{Version: nodepool.VersionSigned, Caller: "portal-a", Envelope: inner,
		Signature: "hmac-sha256=" + base64.StdEncoding.EncodeToString(mac.Sum(nil))})
	b.enqueue(t,
		signed(envelope("ok", "portal-a", 2, ""), keyOf("portal-a")),
		plain(envelope("nocaller", "", 2, "")),
		forgedSize,
		forgedSeal,
		signed(envelope("unknown", "nobody", 2, ""), keyOf("portal-a")),
		signed(envelope("othersig", "portal-a", 2, ""), keyOf("team-b")),
		string(swappedMsg),
		signed(envelope("toobig", "portal-a", 4, ""), keyOf("portal-a")),
		signed(envelope("toobigoutside", "portal-a", 4, outside), keyOf("portal-a")),
		signed(envelope("othercluster", "team-b", 1, ""), keyOf("team-b")),
	)
	res, err := w.HandleBatch(context.Background(), batch(b.pull(t, b.requests, 16, 0)))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, it := range res.Items {
		got[it.RequestId] = string(it.Outcome) + "/" + it.Code
	}
	want := map[string]string{"req_ok": "created/", "req_nocaller": "rejected/Forbidden",
		"req_forgedsize": "rejected/Unauthenticated", "req_forgedseal": "rejected/Unauthenticated",
		"req_unknown": "rejected/Forbidden", "req_othersig": "rejected/Unauthenticated", "req_swapped": "rejected/Unauthenticated",
		"req_toobig": "rejected/Forbidden", "req_toobigoutside": "rejected/Forbidden", "req_othercluster": "rejected/Forbidden"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s, want %s", k, got[k], v)
		}
	}
	if n := b.createCounts(); len(n) != 1 {
		t.Errorf("ENS creates %v, want only the allowed pool", n)
	}
	reasons := ""
	for _, d := range b.deadLetters(t) {
		reasons += d.Code + ": " + d.Reason + "\n"
	}
	if n := strings.Count(reasons, "\n"); n != len(want)-1 {
		t.Errorf("dead letters %d, want %d:\n%s", n, len(want)-1, reasons)
	}
	for _, s := range []string{"names no Caller", "a version-1 envelope is not signed", `Caller "nobody" is not in CALLERS`,
		"does not verify with any of the Secrets", "names another Caller", "at most 3 for this caller (rule MaxDesiredSize)", "(rule Clusters)"} {
		if !strings.Contains(reasons, s) {
			t.Errorf("dead-letter reasons lack %q:\n%s", s, reasons)
		}
	}
	told := map[string]string{}
	for _, ev := range b.recv.events() {
		if ev.Event.Type == callback.TypeFailed {
			told[ev.Event.Data.Name] = ev.Event.Data.Error.Code
		}
	}
	if len(told) != 2 || told["toobig"] != worker.CodeForbidden || told["othercluster"] != worker.CodeForbidden {
		t.Errorf("nodepool.failed told for %v, want toobig and othercluster (Forbidden) only", told)
	}
	callers := map[string]string{}
	for _, tm := range b.trackingMessages(t) {
		callers[tm.Name] = tm.Caller
	}
	for name, who := range map[string]string{"ok": "portal-a", "toobig": "portal-a", "othercluster": "team-b"} {
		if c, ok := callers[name]; ok && c != who {
			t.Errorf("tracking message of %s: Caller %q, want %q", name, c, who)
		}
	}
	if callers["ok"] != "portal-a" {
		t.Errorf("tracking messages %v: none for the created pool under portal-a", callers)
	}
}

func mustPort(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Port()
}
