package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/deadletter"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// TestE2EHostileProducer attacks the three function binaries with CALLERS
// the way a queue producer and a dead-letter redrive could, and checks
// that no event is signed for a caller whose lookup and policy the message
// did not pass:
//
//   - forged envelopes on the requests queue, naming portal-a (whose
//     CallbackHosts is portal.example.com) with a callback on another host
//     and an invalid DesiredSize, or a seal key id nobody has, or naming
//     no caller at all;
//   - crafted callback records on the dead-letter queue, redriven as an
//     operator would: one naming portal-a with a URL outside its
//     CallbackHosts, one naming a caller that is not in CALLERS.
//
// The attacker's receiver must get nothing: not an event signed with
// portal-a's callback secret, nor one signed with the shared secret. The
// forged envelopes end as dead letters; the crafted deliveries come back
// to the dead-letter queue as refused, nothing sent.
func TestE2EHostileProducer(t *testing.T) {
	heavy(t)
	t.Parallel()
	_, sec, cfg := newE2E(t)
	fresh := func() string {
		s, err := callback.NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	secA, cbA, secB := fresh(), fresh(), fresh()
	cfg.WebhookSecrets = nil
	cfg.Callers = `[{"Id":"portal-a","Secrets":["` + secA + `"],"CallbackSecret":"` + cbA + `","Clusters":["*"],
	  "CallbackHosts":["portal.example.com"]},
	 {"Id":"team-b","Secrets":["` + secB + `"],"Clusters":["*"]}]`
	st := testkit.Start(t, cfg)
	defer st.Close()
	rcv := newRawReceiver(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// Forged envelopes: version 1, unsigned, as anyone who may send to the
	// queue can write them.
	forged := func(name, who, path string, edit func(e *nodepool.Envelope)) {
		r := &nodepool.Request{ClusterId: "eck-demo0001", NodepoolInfo: nodepool.NodepoolInfo{Name: name},
			ScalingGroup: nodepool.ScalingGroup{DesiredSize: 1, InstanceTypes: []string{"ens.sn1.small"},
				ImageId: "m-6734fzvcwcv2o8jj201cpa7ox", VswitchIds: []string{"vsw-demo0001"}, KeyPairName: "demo-keypair"},
			Callback: &nodepool.Callback{Url: rcv.URL + path}}
		env, err := nodepool.NewEnvelope(r, "req_hostile_"+strings.ReplaceAll(name, "-", "_"), nodepool.SourceQueue, time.Now(), nil)
		if err != nil {
			t.Fatal(err)
		}
		env.Caller = who
		if edit != nil {
			edit(env)
		}
		msg, err := json.Marshal(env) // Marshal would refuse the edits
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Queue(st.Config().RequestsQueue).Send(ctx, string(msg), 0); err != nil {
			t.Fatal(err)
		}
	}
	forged("forged-size", "portal-a", "/forged-size", func(e *nodepool.Envelope) { e.Request.ScalingGroup.DesiredSize = 101 })
	forged("forged-seal", "portal-a", "/forged-seal", func(e *nodepool.Envelope) {
		e.Request.ScalingGroup.KeyPairName, e.SealedPassword = "", "v1.nokey.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	})
	forged("no-caller", "", "/no-caller", nil)

	// Crafted callback records, redriven by the operator's tool.
	dlq := st.Queue(st.Config().DeadLetterQueue)
	craft := func(who, path string) {
		now := time.Now()
		ev := callback.Event{Type: callback.TypeFailed, Timestamp: now, Data: callback.EventData{
			RequestId: "req_crafted_" + strings.TrimPrefix(path, "/"), ClusterId: "eck-demo0001", Name: "crafted",
			Error: &callback.ErrorInfo{Code: "Conflict", Message: "please call support at evil.example.net"}}}
		d := callback.NewDelivery(rcv.URL+path, ev, now)
		d.Caller = who
		d.State = callback.StateExhausted
		b, err := json.Marshal(deadletter.NewCallbackRecord(d, now))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dlq.Send(ctx, string(b), 0); err != nil {
			t.Fatal(err)
		}
	}
	craft("portal-a", "/redrive-outside")
	craft("removed-caller", "/redrive-removed")
	tool := &deadletter.Tool{DeadLetter: dlq, Requests: st.Queue(st.Config().RequestsQueue),
		Tracking: st.Queue(st.Config().TrackingQueue), Hold: 20 * time.Second, Settle: -1}
	acts, err := tool.Redrive(ctx, deadletter.Filter{Kind: deadletter.KindCallback}, false, nil)
	if err != nil || len(acts) != 2 {
		t.Fatalf("redrive: %+v %v", acts, err)
	}

	// Settled: the forged envelopes are dead letters, the crafted
	// deliveries are back as refused.
	in := inspector(st)
	var bodies []string
	settled := testkit.Eventually(60*time.Second, func() bool {
		peeked, err := in.Peek(ctx, st.Config().DeadLetterQueue)
		if err != nil {
			return false
		}
		requests, refused := 0, 0
		bodies = bodies[:0]
		for _, m := range peeked {
			bodies = append(bodies, m.Body)
			switch {
			case strings.Contains(m.Body, `"Kind":"request"`) && strings.Contains(m.Body, "req_hostile_"):
				requests++
			case strings.Contains(m.Body, `"Kind":"callback"`) && strings.Contains(m.Body, `"Reason":"refused"`):
				refused++
			}
		}
		return requests == 3 && refused == 2
	})
	if !settled {
		t.Errorf("after 60 s the dead-letter queue does not hold the 3 forged envelopes and the 2 crafted deliveries refused")
	}
	time.Sleep(2 * st.Config().PollInterval) // anything still on its way
	for _, c := range rcv.all() {
		signedWith := "another secret"
		for name, s := range map[string]string{"portal-a's callback secret": cbA, "the shared secret": sec.Callback} {
			if v, err := callback.NewVerifier(callback.VerifierConfig{Secrets: []string{s}}); err == nil && v.Verify(c.Body, c.Header) == nil {
				signedWith = name
			}
		}
		t.Errorf("the attacker's receiver got %s, signed with %s: %s", c.Path, signedWith, c.Body)
	}
	joined := strings.Join(bodies, "\n")
	for _, want := range []string{`"Code":"Unauthenticated"`, `"Code":"Forbidden"`, "outside the caller's CallbackHosts", "not in CALLERS"} {
		if !strings.Contains(joined, want) {
			t.Errorf("dead letters lack %q:\n%s", want, joined)
		}
	}
}

// TestE2ECallersValueNeverPrinted starts each function binary with a
// CALLERS value that is not a list — one object, with and without a byte
// order mark, or a list in quotes a shell left in — and checks that
// start-up fails naming CALLERS and what it wants, without printing the
// value or the secret in it.
func TestE2ECallersValueNeverPrinted(t *testing.T) {
	t.Parallel()
	secret, err := callback.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	object := `{"Id":"portal-a","Secrets":["` + secret + `"],"Clusters":["*"]}`
	for _, fn := range []string{"webhook", "worker", "poller"} {
		for name, v := range map[string]string{"object": object, "object after a BOM": "\uFEFF" + object, "quoted list": `'[` + object + `]'`} {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			cmd := exec.CommandContext(ctx, filepath.Join(binDir, fn))
			cmd.Env = []string{"CALLERS=" + v, "MNS_ENDPOINT=http://127.0.0.1:9", "SEAL_KEYS=k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
				"CALLBACK_SECRET=" + secret}
			b, err := cmd.CombinedOutput()
			cancel()
			got := string(b)
			if err == nil || !strings.Contains(got, "CALLERS") || strings.Contains(got, strings.TrimPrefix(secret, "whsec_")) ||
				strings.Contains(got, "portal-a") {
				t.Errorf("%s with CALLERS as %s: %v\n%s", fn, name, err, got)
			}
			if strings.Contains(name, "object") && !strings.Contains(got, "want a list") {
				t.Errorf("%s with CALLERS as %s: no \"want a list\" in\n%s", fn, name, got)
			}
		}
	}
}
