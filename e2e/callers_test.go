package e2e

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/caller"
	"github.com/ensnodepool/webhook/pkg/chatops"
	"github.com/ensnodepool/webhook/pkg/chatreply"
	"github.com/ensnodepool/webhook/pkg/dev/localstack"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// rawReceiver records every callback with its path, headers and bytes.
type rawReceiver struct {
	*httptest.Server
	mu  sync.Mutex
	got []rawCallback
}

type rawCallback struct {
	Path   string
	Header http.Header
	Body   []byte
}

func newRawReceiver(t *testing.T) *rawReceiver {
	r := &rawReceiver{}
	record := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, rawCallback{Path: req.URL.Path, Header: req.Header.Clone(), Body: body})
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	callbacks := testkit.CheckCallbacks(t)(record) // validated against the API document
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/slack" { // a Slack response_url: chat messages, not callbacks
			record(w, req)
			return
		}
		callbacks.ServeHTTP(w, req)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *rawReceiver) at(path string) []rawCallback {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []rawCallback
	for _, c := range r.got {
		if c.Path == path {
			out = append(out, c)
		}
	}
	return out
}

// all returns every callback received.
func (r *rawReceiver) all() []rawCallback {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]rawCallback(nil), r.got...)
}

// types returns the event types received at path.
func (r *rawReceiver) types(path string) []string {
	var out []string
	for _, c := range r.at(path) {
		ev, err := callback.ParseEvent(c.Body)
		if err == nil {
			out = append(out, ev.Type)
		}
	}
	return out
}

// TestE2ECallers runs the three function binaries with CALLERS:
//
//   - caller A's request inside its policy → 202, and its events are
//     signed with A's callback secret only (not the shared one, not B's);
//   - the same body signed by caller B, outside B's policy → 403 naming
//     the rule; nothing queued (no worker ever sees its RequestId) and
//     ENS untouched; B cannot read A's pool status either;
//   - a Slack user mapped to A creates; an unmapped one is refused;
//   - a queue envelope naming no caller is dead-lettered Forbidden and
//     told to no one; one signed by a known caller (as scripts/enqueue
//     -caller signs it) is created;
//   - every decision is an audit record, and no secret or password is in
//     any captured byte (function output, callbacks, chat answers, dead
//     letters).
func TestE2ECallers(t *testing.T) {
	t.Parallel()
	out := &testkit.SyncBuffer{}
	testkit.DumpOnFailure(t, out)
	sec := testkit.NewSecrets(t) // .Callback is the shared CALLBACK_SECRET
	fresh := func() string {
		s, err := callback.NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	secA, cbA, secB, cbB, secAuto := fresh(), fresh(), fresh(), fresh(), fresh()
	const slackSigning = "e2e-callers-slack-signing"
	const password = "Callers-Pw-9e2e"
	callers := `[
	 {"Id":"portal-a","Secrets":["` + secA + `"],"CallbackSecret":"` + cbA + `","Clusters":["eck-demo0001"],
	  "MaxDesiredSize":5,"CallbackHosts":["127.0.0.1:*"],"Chat":["slack:T1/UA"]},
	 {"Id":"team-b","Secrets":["` + secB + `"],"CallbackSecret":"` + cbB + `","Clusters":["eck-other*"],"MaxDesiredSize":1},
	 {"Id":"automation","Secrets":["` + secAuto + `"],"Clusters":["*"]}]`
	presets, err := os.ReadFile(filepath.Join(moduleDir(), "pkg", "chatops", "testdata", "presets.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t.TempDir(), sec, out)
	cfg.WebhookSecrets, cfg.Callers = nil, callers
	cfg.Env = map[string]string{"SLACK_SIGNING_SECRET": slackSigning, "CHATOPS_PRESETS": string(presets), "CHATOPS_ALLOW_HOSTS": "127.0.0.1"}
	st := testkit.Start(t, cfg)
	defer st.Close()
	rcv := newRawReceiver(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// A request with a password (sealed on the queue, never logged).
	var req map[string]any
	if err := json.Unmarshal(testkit.Template(t, moduleDir()), &req); err != nil {
		t.Fatal(err)
	}
	req["NodepoolInfo"] = map[string]any{"Name": "a-pool"}
	sg := req["ScalingGroup"].(map[string]any)
	delete(sg, "KeyPairName")
	sg["Password"] = password
	req["Callback"] = map[string]any{"Url": rcv.URL + "/a"}
	body, _ := json.Marshal(req)

	status, resp, err := localstack.PostCreate(ctx, nil, st.URL(), secA, "", body)
	if err != nil || status != http.StatusAccepted {
		t.Fatalf("caller A: %d %s %v", status, resp, err)
	}
	status, resp, err = localstack.PostCreate(ctx, nil, st.URL(), secB, "", body)
	if err != nil || status != http.StatusForbidden {
		t.Fatalf("caller B: %d %s %v", status, resp, err)
	}
	var problem struct {
		Code, Detail, Rule, RequestId string
	}
	if err := json.Unmarshal(resp, &problem); err != nil || problem.Code != "forbidden" || problem.Rule != "Clusters" ||
		!strings.Contains(problem.Detail, "ClusterId") || strings.Contains(string(resp), "portal-a") {
		t.Errorf("403 body %s", resp)
	}

	// Slack: the mapped user creates, an unmapped one is refused.
	slackText := func(user, name, trigger string) string {
		form := url.Values{"command": {"/nodepool"}, "text": {"create eck-demo0001 " + name + " preset=small size=2"},
			"response_url": {rcv.URL + "/slack"}, "trigger_id": {trigger}, "team_id": {"T1"}, "user_id": {user}}
		b := []byte(form.Encode())
		r, _ := http.NewRequestWithContext(ctx, http.MethodPost, st.URL()+"/v1/chatops/slack", bytes.NewReader(b))
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("X-Slack-Request-Timestamp", ts)
		r.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(chatops.SlackSignature(slackSigning, ts, b)))
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m chatreply.SlackMessage
		if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
			t.Fatalf("slack answer: %v", err)
		}
		return m.Text
	}
	if txt := slackText("UA", "slack-a", "callers.1"); !strings.HasPrefix(txt, "Accepted") {
		t.Errorf("mapped Slack user: %q", txt)
	}
	unmapped := slackText("U9", "slack-x", "callers.2")
	if !strings.Contains(unmapped, "not allowed") {
		t.Errorf("unmapped Slack user: %q", unmapped)
	}

	// The queue: no Caller → Forbidden; a known Caller, signed → created.
	enqueue := func(name, who, path string) {
		r := &nodepool.Request{ClusterId: "eck-demo0001", NodepoolInfo: nodepool.NodepoolInfo{Name: name},
			ScalingGroup: nodepool.ScalingGroup{DesiredSize: 1, InstanceTypes: []string{"ens.sn1.small"},
				ImageId: "m-6734fzvcwcv2o8jj201cpa7ox", VswitchIds: []string{"vsw-demo0001"}, KeyPairName: "demo-keypair"},
			Callback: &nodepool.Callback{Url: rcv.URL + path}}
		env, err := nodepool.NewEnvelope(r, nodepool.RequestID("callers-"+name, ""), nodepool.SourceQueue, time.Now(), nil)
		if err != nil {
			t.Fatal(err)
		}
		env.Caller = who
		msg, _ := env.Marshal()
		if who != "" {
			raw, _ := caller.ParseSecret(secAuto)
			if msg, err = env.Sign(nodepool.EnvelopeKey(raw)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := st.Queue(st.Config().RequestsQueue).Send(ctx, string(msg), 0); err != nil {
			t.Fatal(err)
		}
	}
	enqueue("q-nocaller", "", "/queue")
	enqueue("q-auto", "automation", "/auto")

	testkit.WaitFor(t, 60*time.Second, "A active, slack-a and q-auto created, q-nocaller dead-lettered", func() bool {
		names := map[string]bool{}
		for _, p := range st.ENS().Pools("") {
			names[p.NodepoolInfo.Name] = true
		}
		peeked, _ := inspector(st).Peek(ctx, st.Config().DeadLetterQueue)
		dead := false
		for _, m := range peeked {
			dead = dead || strings.Contains(m.Body, "q-nocaller")
		}
		return strings.Contains(strings.Join(rcv.types("/a"), ","), callback.TypeActive) &&
			names["slack-a"] && names["q-auto"] && dead
	})

	// ENS: exactly the allowed pools.
	var pools []string
	for _, p := range st.ENS().Pools("") {
		pools = append(pools, p.NodepoolInfo.Name)
	}
	if len(pools) != 3 || strings.Contains(strings.Join(pools, ","), "slack-x") || strings.Contains(strings.Join(pools, ","), "q-nocaller") {
		t.Errorf("ENS pools %v, want a-pool, slack-a, q-auto", pools)
	}

	// A's events: signed with A's callback secret only.
	verify := func(secret string, c rawCallback) error {
		v, err := callback.NewVerifier(callback.VerifierConfig{Secrets: []string{secret}})
		if err != nil {
			t.Fatal(err)
		}
		return v.Verify(c.Body, c.Header)
	}
	for _, c := range rcv.at("/a") {
		if err := verify(cbA, c); err != nil {
			t.Errorf("A's event not signed with A's callback secret: %v", err)
		}
		for _, other := range []string{sec.Callback, cbB} {
			if verify(other, c) == nil {
				t.Error("A's event verifies with another secret")
			}
		}
		if n := len(strings.Fields(c.Header.Get(callback.HeaderSignature))); n != 1 {
			t.Errorf("A's event carries %d signatures", n)
		}
	}
	// The refused envelope names no caller: no one vouches for its
	// callback, so nothing is sent there (nothing signed as anyone).
	if got := rcv.at("/queue"); len(got) != 0 {
		t.Errorf("the envelope naming no caller was told %d events", len(got))
	}

	// Status: A reads its pool; B may not read A's cluster.
	poolURL := st.URL() + "/v1/clusters/eck-demo0001/nodepools/a-pool"
	if code, b, err := testkit.Get(ctx, poolURL, secA); err != nil || code != http.StatusOK || strings.Contains(string(b), password) {
		t.Errorf("A status: %d %v", code, err)
	}
	if code, _, err := testkit.Get(ctx, poolURL, secB); err != nil || code != http.StatusForbidden {
		t.Errorf("B status of A's pool: %d %v", code, err)
	}

	// B's request never reached a worker.
	logs := out.String()
	if problem.RequestId == "" || strings.Contains(logs, `"requestId":"`+problem.RequestId+`","messageId"`) ||
		strings.Count(logs, problem.RequestId) == 0 {
		t.Errorf("B's RequestId %q: want it in the webhook's records only", problem.RequestId)
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, problem.RequestId) && !strings.HasPrefix(line, "[webhook#") {
			t.Errorf("B's request reached %q", line)
		}
	}

	// Audit records.
	type rec struct{ Caller, Source, Action, ClusterId, Name, RequestId, Decision, Reason string }
	var recs []rec
	for _, line := range strings.Split(logs, "\n") {
		_, js, ok := strings.Cut(line, "] ")
		if !ok || !strings.Contains(js, `"msg":"audit"`) {
			continue
		}
		var r rec
		if err := json.Unmarshal([]byte(js), &r); err != nil {
			t.Errorf("audit line %q: %v", js, err)
			continue
		}
		recs = append(recs, r)
	}
	has := func(what string, f func(r rec) bool) {
		for _, r := range recs {
			if f(r) {
				return
			}
		}
		t.Errorf("no audit record: %s", what)
	}
	has("A accepted", func(r rec) bool {
		return r.Caller == "portal-a" && r.Source == "api" && r.Action == "create" && r.Name == "a-pool" && r.Decision == "accepted"
	})
	has("B denied naming the rule", func(r rec) bool {
		return r.Caller == "team-b" && r.Source == "api" && r.Decision == "denied" && r.RequestId == problem.RequestId && strings.Contains(r.Reason, "rule Clusters")
	})
	has("A's pool created", func(r rec) bool { return r.Caller == "portal-a" && r.Name == "a-pool" && r.Decision == "created" })
	has("A's event delivered", func(r rec) bool {
		return r.Caller == "portal-a" && r.Action == "deliver" && r.Decision == "delivered" && r.Reason == callback.TypeActive
	})
	has("Slack user accepted as A", func(r rec) bool { return r.Caller == "portal-a" && r.Source == "slack" && r.Decision == "accepted" })
	has("Slack pool created for A", func(r rec) bool {
		return r.Caller == "portal-a" && r.Source == "slack" && r.Name == "slack-a" && r.Decision == "created"
	})
	has("unmapped Slack user denied", func(r rec) bool { return r.Caller == "" && r.Source == "slack" && r.Decision == "denied" })
	has("envelope without Caller denied", func(r rec) bool {
		return r.Source == "queue" && r.Name == "q-nocaller" && r.Decision == "denied" && strings.Contains(r.Reason, "names no Caller")
	})
	has("automation created", func(r rec) bool { return r.Caller == "automation" && r.Name == "q-auto" && r.Decision == "created" })

	// No secret or password in any captured byte.
	var captured bytes.Buffer
	captured.WriteString(logs)
	captured.WriteString(unmapped)
	for _, c := range append(rcv.at("/a"), append(rcv.at("/queue"), append(rcv.at("/slack"), rcv.at("/auto")...)...)...) {
		captured.Write(c.Body)
		for k, v := range c.Header {
			captured.WriteString(k + ": " + strings.Join(v, ",") + "\n")
		}
	}
	dlq := st.Queue(st.Config().DeadLetterQueue)
	for {
		ms, err := dlq.Receive(ctx, 16, 0)
		if err != nil || len(ms) == 0 {
			break
		}
		for _, m := range ms {
			captured.WriteString(m.Body)
			_ = dlq.Delete(ctx, m.ReceiptHandle)
		}
	}
	if !strings.Contains(captured.String(), "q-nocaller") {
		t.Error("the refused envelope's dead letter was not captured")
	}
	for name, s := range map[string]string{"A's secret": secA, "B's secret": secB, "A's callback secret": cbA, "automation's secret": secAuto,
		"B's callback secret": cbB, "shared callback secret": sec.Callback, "Slack signing secret": slackSigning, "password": password} {
		if strings.Contains(captured.String(), strings.TrimPrefix(s, "whsec_")) {
			t.Errorf("%s found in captured output", name)
		}
	}
}
