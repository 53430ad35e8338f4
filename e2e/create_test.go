package e2e

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/chatops"
	"github.com/ensnodepool/webhook/pkg/chatreply"
	"github.com/ensnodepool/webhook/pkg/dev/enssim"
	"github.com/ensnodepool/webhook/pkg/dev/localstack"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// TestE2ECreate: signed POST → 202 → creating then active at a loopback
// receiver with verified signatures (the demo's own code path).
func TestE2ECreate(t *testing.T) {
	t.Parallel()
	_, sec, cfg := newE2E(t)
	st := testkit.Start(t, cfg)
	defer st.Close()
	if ok, _ := regexp.MatchString(`^ready http=127\.0\.0\.1:\d+ mns=127\.0\.0\.1:\d+ ens=127\.0\.0\.1:\d+$`, st.ReadyLine()); !ok {
		t.Errorf("ReadyLine() = %q", st.ReadyLine())
	}

	// Unsigned and wrongly signed requests are refused before anything is queued.
	body := template(t)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	resp, err := http.Post(st.URL()+"/v1/nodepools", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned POST: status %d, want 401", resp.StatusCode)
	}
	other := testkit.NewSecrets(t)
	if status, _, err := localstack.PostCreate(ctx, nil, st.URL(), other.Webhook, "", body); err != nil || status != http.StatusUnauthorized {
		t.Errorf("POST signed with another secret: %d, %v; want 401", status, err)
	}

	var log bytes.Buffer
	res, err := demo(ctx, st, localstack.DemoConfig{WebhookSecret: sec.Webhook, CallbackSecret: sec.Callback, Template: body, Out: &log})
	t.Logf("demo output:\n%s", log.String())
	if err != nil {
		t.Fatalf("Demo: %v", err)
	}
	if res.Accepted.RequestId == "" || res.Accepted.State != "accepted" {
		t.Errorf("202 body = %+v, want a RequestId and State accepted", res.Accepted)
	}
	var types []string
	for _, c := range res.Callbacks {
		if c.Event.Data.RequestId != res.Accepted.RequestId {
			t.Errorf("callback %s RequestId = %q, want %q", c.Event.Type, c.Event.Data.RequestId, res.Accepted.RequestId)
		}
		if !c.Duplicate {
			types = append(types, c.Event.Type)
		}
	}
	if want := []string{callback.TypeCreating, callback.TypeActive}; strings.Join(types, ",") != strings.Join(want, ",") {
		t.Errorf("callbacks = %v, want %v", types, want)
	}
	last := res.Callbacks[len(res.Callbacks)-1].Event.Data
	if last.NodepoolId == "" || last.Status == nil || last.Status.State != "active" {
		t.Errorf("active callback data = %+v", last)
	}
	if got := st.ENS().Stats().Creates; len(got) != 1 || got[0].Count != 1 {
		t.Errorf("ENS creates = %+v, want one", got)
	}
	status, got, err := statusOf(ctx, st, sec.Webhook, "eck-demo0001", res.Accepted.Name)
	if err != nil || status != http.StatusOK {
		t.Errorf("GET status: %d %v %v", status, got, err)
	}
	t.Logf("POST → active in %v; status endpoint: %v", res.Took.Round(time.Millisecond), got)
	// Each exchange above (two refused POSTs, the demo's POST, the status
	// read) and each callback went through the API document: testkit.Start
	// put a Checker on the stack, whose failures fail the test when it ends.
	if n, want := st.Config().Check.Checked(), 4+len(res.Callbacks); n < want {
		t.Errorf("the document checked %d exchanges and callbacks, want at least %d", n, want)
	}
}

// TestE2EWorkerKilled: the worker is SIGKILLed while a batch of five
// requests is half done (four pools created, the fifth create held by an
// injected delay). The batch is redelivered: every pool becomes active
// and is reported, none is created twice.
func TestE2EWorkerKilled(t *testing.T) {
	heavy(t)
	t.Parallel()
	_, sec, cfg := newE2E(t)
	st := testkit.Start(t, cfg)
	defer st.Close()
	ens := st.ENS()
	if err := ens.InjectFault(enssim.Fault{Action: "CreateClusterNodePool", Count: 1, Delay: enssim.Duration{Duration: 30 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	rcv := newReceiver(t, sec)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	names := make([]string, 5)
	for i := range names {
		names[i] = fmt.Sprintf("kill-%d", i)
		submit(t, st, sec, names[i], rcv.URL())
	}
	testkit.WaitFor(t, 20*time.Second, "four creates done and the fifth held", func() bool {
		s := ens.Stats()
		return s.Calls["CreateClusterNodePool"] >= 5 && s.Pools == 4
	})
	inst := st.Runtime().Instances(localstack.FuncWorker)
	if len(inst) != 1 || !inst[0].Busy || inst[0].PID == 0 {
		t.Fatalf("worker instances = %+v, want one busy", inst)
	}
	if err := syscall.Kill(inst[0].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed worker pid %d mid-batch", inst[0].PID)

	testkit.WaitFor(t, 40*time.Second, "all five pools reported active", func() bool {
		g := testkit.ByName(rcv.Received())
		for _, n := range names {
			if len(g[n][callback.TypeActive]) == 0 {
				return false
			}
		}
		return true
	})
	g := testkit.ByName(rcv.Received())
	for _, n := range names {
		if got := len(g[n][callback.TypeActive]); got != 1 {
			t.Errorf("%s: %d distinct active events, want 1", n, got)
		}
		if len(g[n][callback.TypeCreating]) == 0 {
			t.Errorf("%s: no creating event", n)
		}
		if len(g[n][callback.TypeFailed]) > 0 {
			t.Errorf("%s: failed event %v", n, g[n][callback.TypeFailed])
		}
	}
	s := ens.Stats()
	if s.Pools != len(names) {
		t.Errorf("ENS has %d pools, want %d", s.Pools, len(names))
	}
	for _, c := range s.Creates {
		if c.Count != 1 {
			t.Errorf("pool %s created %d times", c.Name, c.Count)
		}
	}
	if inst := st.Runtime().Instances(localstack.FuncWorker); inst[0].Starts < 2 {
		t.Errorf("worker starts = %d, want a restart", inst[0].Starts)
	}
	for _, q := range []string{st.Config().RequestsQueue, st.Config().DeadLetterQueue} {
		a, err := inspector(st).Queue(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if a.Total != 0 {
			msgs, _ := inspector(st).Peek(ctx, q)
			t.Errorf("queue %s not empty: %+v %+v", q, a, msgs)
		}
	}
	if n := rcv.Rejected(); n != 0 {
		t.Errorf("%d callbacks with bad signatures", n)
	}
}

// TestE2ERestart: the stack is closed while the pool provisions and
// started again on the same data directory; the pool still reaches active
// and active is reported once.
func TestE2ERestart(t *testing.T) {
	heavy(t)
	t.Parallel()
	out := &testkit.SyncBuffer{}
	testkit.DumpOnFailure(t, out)
	sec := testkit.NewSecrets(t)
	dir := t.TempDir()
	cfg := testConfig(dir, sec, out)
	cfg.ENSProvision = 4 * time.Second
	st := testkit.Start(t, cfg)
	defer st.Close()
	rcv := newReceiver(t, sec)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	submit(t, st, sec, "restart-0", rcv.URL())
	first, err := rcv.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if first.Event.Type != callback.TypeCreating {
		t.Fatalf("first callback %s, want creating", first.Event.Type)
	}
	if p := st.ENS().Pools(""); len(p) != 1 || p[0].Status.State == "active" {
		t.Fatalf("pools before restart = %+v, want one provisioning", p)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	t.Logf("stack closed %v after the creating callback", time.Since(first.At).Round(time.Millisecond))

	st2 := testkit.Start(t, cfg)
	defer st2.Close()
	for {
		c, err := rcv.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for active: %v; got %+v", err, rcv.Received())
		}
		if c.Event.Type == callback.TypeActive {
			break
		}
		if c.Event.Type != callback.TypeCreating {
			t.Fatalf("unexpected callback %s", c.Event.Type)
		}
	}
	// Give a late duplicate a poll interval or two to show up.
	time.Sleep(3 * cfg.PollInterval)
	g := testkit.ByName(rcv.Received())["restart-0"]
	if got := len(g[callback.TypeActive]); got != 1 {
		t.Errorf("distinct active events = %d, want 1", got)
	}
	raw := 0
	for _, n := range g[callback.TypeActive] {
		raw += n
	}
	if raw != 1 {
		t.Errorf("active delivered %d times, want once", raw)
	}
	if s := st2.ENS().Stats(); s.Pools != 1 {
		t.Errorf("pools after restart = %d, want 1", s.Pools)
	}
	if p := st2.ENS().Pools(""); len(p) != 1 || p[0].Status.State != "active" {
		t.Errorf("pool after restart = %+v", p)
	}
}

// statusOf fetches GET /v1/clusters/{id}/nodepools/{name} (signed).
func statusOf(ctx context.Context, st *localstack.Stack, secret, cluster, name string) (int, map[string]any, error) {
	status, body, err := testkit.Get(ctx, st.URL()+"/v1/clusters/"+cluster+"/nodepools/"+name, secret)
	if err != nil {
		return 0, nil, err
	}
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	return status, m, nil
}

// TestE2ESlack: a signed Slack slash command to the webhook binary is
// acknowledged with its RequestId, and the worker and poller binaries post
// "creating" then "active" to the command's response_url — a loopback
// receiver, allowed by CHATOPS_ALLOW_HOSTS and CALLBACK_ALLOW_CIDRS in
// this local configuration only.
func TestE2ESlack(t *testing.T) {
	t.Parallel()
	const signing = "e2e-slack-signing-secret"
	out := &testkit.SyncBuffer{}
	testkit.DumpOnFailure(t, out)
	sec := testkit.NewSecrets(t)

	var (
		mu    sync.Mutex
		texts []string
	)
	rs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m chatreply.SlackMessage
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		mu.Lock()
		texts = append(texts, m.ResponseType+": "+m.Text)
		mu.Unlock()
		_, _ = w.Write([]byte("ok"))
	}))
	defer rs.Close()
	got := func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), texts...) }

	presets, err := os.ReadFile(filepath.Join(moduleDir(), "pkg", "chatops", "testdata", "presets.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t.TempDir(), sec, out)
	cfg.Env = map[string]string{
		"SLACK_SIGNING_SECRET": signing,
		"CHATOPS_PRESETS":      string(presets),
		"CHATOPS_ALLOW_HOSTS":  "127.0.0.1",
	}
	st := testkit.Start(t, cfg)
	defer st.Close()

	form := url.Values{"command": {"/nodepool"}, "text": {"create eck-demo0001 slack-pool preset=small size=2"},
		"response_url": {rs.URL + "/commands/T1/1/x"}, "trigger_id": {"e2e.1"}, "user_id": {"U1"}, "channel_id": {"C1"}}
	body := []byte(form.Encode())
	req, err := http.NewRequest(http.MethodPost, st.URL()+"/v1/chatops/slack", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(chatops.SlackSignature(signing, ts, body)))
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ackBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("ack took %v; Slack allows 3 s", d)
	}
	var ack chatreply.SlackMessage
	if err := json.Unmarshal(ackBody, &ack); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("ack: %d %s", resp.StatusCode, ackBody)
	}
	requestID := nodepool.RequestID("slack:e2e.1", "")
	if !strings.Contains(ack.Text, requestID) {
		t.Fatalf("ack %q lacks RequestId %s", ack.Text, requestID)
	}

	testkit.WaitFor(t, 40*time.Second, "creating and active in the conversation", func() bool { return len(got()) >= 2 })
	msgs := got()
	if len(msgs) != 2 ||
		!strings.Contains(msgs[0], "is being created") || !strings.Contains(msgs[1], "is active: 2/2 nodes serving") {
		t.Fatalf("response_url got %q; want creating then active", msgs)
	}
	for _, m := range msgs {
		if !strings.Contains(m, requestID) || !strings.Contains(m, "slack-pool") {
			t.Errorf("%q lacks the RequestId or the pool name", m)
		}
	}
	if n := st.ENS().Stats().Pools; n != 1 {
		t.Errorf("ENS pools = %d, want 1", n)
	}
}
