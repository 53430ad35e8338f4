package faults

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/caller"
	"github.com/ensnodepool/webhook/pkg/deadletter"
	"github.com/ensnodepool/webhook/pkg/dev/localstack"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
	"github.com/ensnodepool/webhook/pkg/mns"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// 5b. Security: the hostile producer against CALLERS. portal-a may use
// callbacks on the receiver's host and port only and at most 5 nodes;
// team-b is another caller. A producer with send access to the requests
// queue and the dead-letter queue puts on them: unsigned envelopes naming
// portal-a (an invalid size, a seal key nobody has, a callback on another
// port), one naming no caller, envelopes signed with the wrong caller's
// key, naming an unknown caller, or naming another caller inside, one
// signed by portal-a asking beyond its cap with a callback outside its
// hosts, one whose ids carry terminal escape sequences, and crafted
// callback records (portal-a with a URL outside its hosts, a caller not in
// CALLERS, no caller) that an operator redrives. Meanwhile portal-a's own
// request through the API and its own signed envelope on the queue are
// created and reported; a request with no DesiredSize and one with a
// callback on another port are refused at the door.
//
// Nothing reaches the attacker's receiver (no event signed for portal-a,
// nor with the shared secret), every forged message is a dead letter,
// every crafted delivery comes back refused, and no dead-letter record
// carries a control character in its ids.
func testHostileCallers(t *testing.T) {
	t.Parallel()
	secB, err := callback.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOpts{seed: 13, callers: func(rcvURL string, sec testkit.Secrets) string {
		return `[{"Id":"portal-a","Secrets":["` + sec.Webhook + `"],"Clusters":["*"],"MaxDesiredSize":5,
		  "CallbackHosts":["` + strings.TrimPrefix(rcvURL, "http://") + `"]},
		 {"Id":"team-b","Secrets":["` + secB + `"],"Clusters":["*"]}]`
	}})
	attacker := newReceiver(t, e.sec.Callback) // same host, another port
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	keyOf := func(secret string) []byte {
		raw, err := caller.ParseSecret(secret)
		if err != nil {
			t.Fatal(err)
		}
		return nodepool.EnvelopeKey(raw)
	}
	keyA, keyB := keyOf(e.sec.Webhook), keyOf(secB)

	envelope := func(name, who, url string, size int32) *nodepool.Envelope {
		var r nodepool.Request
		if err := json.Unmarshal(e.request(name, url), &r); err != nil {
			t.Fatal(err)
		}
		r.ScalingGroup.DesiredSize = size
		env, err := nodepool.NewEnvelope(&r, "req_hc_"+strings.ReplaceAll(name, "-", "_"), nodepool.SourceQueue, time.Now(), nil)
		if err != nil {
			t.Fatal(err)
		}
		env.Caller = who
		return env
	}
	plain := func(env *nodepool.Envelope) string {
		b, err := json.Marshal(env) // as a producer writes it: no checks
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	signed := func(env *nodepool.Envelope, key []byte) string {
		b, err := env.Sign(key)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// wrap signs inner as caller with key, as a producer following the
	// documented recipe would (for the cases Sign refuses to make).
	wrap := func(who, inner string, key []byte) string {
		m := hmac.New(sha256.New, key)
		m.Write([]byte("v2." + who + "." + inner))
		b, _ := json.Marshal(nodepool.SignedEnvelope{Version: nodepool.VersionSigned, Caller: who, Envelope: inner,
			Signature: "hmac-sha256=" + base64.StdEncoding.EncodeToString(m.Sum(nil))})
		return string(b)
	}
	out := attacker.url + "/forged"
	forgedSize := envelope("hc-forged-size", "portal-a", out, 101)
	forgedSeal := envelope("hc-forged-seal", "portal-a", out, 2)
	forgedSeal.Request.ScalingGroup.KeyPairName, forgedSeal.SealedPassword = "", "v1.nokey.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	escape := envelope("hc-escape", "portal-a", out, 2)
	escape.RequestId, escape.Request.ClusterId = "req_\x1b[2J\x1b[H", "eck-\x1b]0;owned\a"
	escape.Request.NodepoolInfo.Name = "x\r\u009b31m\u202e"
	forged := []string{
		plain(forgedSize),
		plain(forgedSeal),
		plain(envelope("hc-no-caller", "", out, 2)),
		plain(escape),
		signed(envelope("hc-unknown", "nobody", out, 2), keyA),
		signed(envelope("hc-other-key", "portal-a", out, 2), keyB),
		wrap("portal-a", plain(envelope("hc-swapped", "team-b", out, 2)), keyA),
		signed(envelope("hc-over-cap", "portal-a", out, 6), keyA),
	}
	requests := e.queueClient().Queue(e.st.Config().RequestsQueue)
	for _, b := range forged {
		if _, err := requests.Send(ctx, b, 0); err != nil {
			t.Fatal(err)
		}
	}

	// Crafted deliveries, redriven by the operator's tool.
	dlq := e.queueClient().Queue(e.st.Config().DeadLetterQueue)
	for _, who := range []string{"portal-a", "removed-caller", ""} {
		now := time.Now()
		ev := callback.Event{Type: callback.TypeFailed, Timestamp: now, Data: callback.EventData{
			RequestId: "req_hc_crafted_" + strings.ReplaceAll(cmp.Or(who, "none"), "-", "_"), ClusterId: "eck-demo0001", Name: "hc-crafted",
			Error: &callback.ErrorInfo{Code: callback.CodeConflict, Message: "call support at evil.example.net"}}}
		d := callback.NewDelivery(attacker.url+"/crafted", ev, now)
		d.Caller, d.State = who, callback.StateExhausted
		b, _ := json.Marshal(deadletter.NewCallbackRecord(d, now))
		if _, err := dlq.Send(ctx, string(b), 0); err != nil {
			t.Fatal(err)
		}
	}
	tool := &deadletter.Tool{DeadLetter: dlq, Requests: requests, Tracking: e.queueClient().Queue(e.st.Config().TrackingQueue),
		Hold: 20 * time.Second, Settle: -1}
	if acts, err := tool.Redrive(ctx, deadletter.Filter{Kind: deadletter.KindCallback}, false, nil); err != nil || len(acts) != 3 {
		t.Fatalf("redrive %+v %v", acts, err)
	}

	// portal-a's own: through the API and as a signed envelope.
	want := expectation{}
	want[e.submit("hc-api", e.request("hc-api", e.rcv.url+"/ok"))] = callback.TypeActive
	own := envelope("hc-queue", "portal-a", e.rcv.url+"/ok", 2)
	if _, err := requests.Send(ctx, signed(own, keyA), 0); err != nil {
		t.Fatal(err)
	}
	want[own.RequestId] = callback.TypeActive
	e.mu.Lock()
	e.accepted[own.RequestId], e.names["hc-queue"] = "hc-queue", true
	e.mu.Unlock()
	// Refused at the door: no DesiredSize under a cap; another port.
	var noSize map[string]any
	if err := json.Unmarshal(e.request("hc-nosize", e.rcv.url+"/ok"), &noSize); err != nil {
		t.Fatal(err)
	}
	delete(noSize["ScalingGroup"].(map[string]any), "DesiredSize")
	noSizeBody, _ := json.Marshal(noSize)
	for name, body := range map[string]string{"no DesiredSize": string(noSizeBody), "another port": string(e.request("hc-port", attacker.url+"/ok"))} {
		status, resp, err := localstack.PostCreate(ctx, nil, e.st.URL(), e.sec.Webhook, "", []byte(body))
		if err != nil || status != http.StatusForbidden {
			t.Errorf("%s: %d %s %v, want 403", name, status, resp, err)
		}
	}

	r := e.settle(fmt.Sprintf("Security: CALLERS, hostile producer: %d forged envelopes, %d crafted deliveries redriven; 2 own requests",
		len(forged), 3), want, 90*time.Second, "")
	if n := len(attacker.rawBytes()); n != 0 {
		t.Errorf("the attacker's receiver got %d bytes:\n%s", n, attacker.rawBytes())
	}
	if r.Pools != 2 {
		t.Errorf("pools created = %d, want 2 (portal-a's own)", r.Pools)
	}
	checkHostileDeadLetters(t, e.dead, len(forged))
}

// checkHostileDeadLetters: every forged envelope is a request record,
// every crafted delivery a callback record refused with no attempt sent,
// and no record carries a control character in its ids.
func checkHostileDeadLetters(t *testing.T, dead []mns.Message, forged int) {
	t.Helper()
	requests, refused := 0, 0
	var reasons []string
	for _, m := range dead {
		var rec struct {
			Kind, Reason, Code, RequestId, ClusterId, Name string
			Delivery                                       callback.Delivery
		}
		if err := json.Unmarshal([]byte(m.Body), &rec); err != nil {
			t.Errorf("dead letter %s: %v", m.Body, err)
			continue
		}
		for _, id := range []string{rec.RequestId, rec.ClusterId, rec.Name, rec.Delivery.Caller} {
			if strings.IndexFunc(id, unicode.IsControl) >= 0 || strings.ContainsRune(id, '\u202e') {
				t.Errorf("a dead-letter record carries a control character in an id: %q", id)
			}
		}
		switch {
		case rec.Kind == deadletter.KindRequest:
			requests++
			reasons = append(reasons, rec.Code+": "+rec.Reason)
		case rec.Kind == deadletter.KindCallback && rec.Reason == string(callback.StateRefused) &&
			len(rec.Delivery.Attempts) == 1 && rec.Delivery.Attempts[0].Status == 0:
			refused++
			reasons = append(reasons, "refused: "+rec.Delivery.Attempts[0].Error)
		default:
			t.Errorf("unexpected dead letter %s", m.Body)
		}
	}
	if requests != forged || refused != 3 {
		t.Errorf("dead letters: %d request records (want %d), %d refused deliveries (want 3):\n%s",
			requests, forged, refused, strings.Join(reasons, "\n"))
	}
}
