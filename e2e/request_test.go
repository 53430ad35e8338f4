package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/dev/enssim"
	"github.com/ensnodepool/webhook/pkg/dev/localstack"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// docCluster is the cluster and vSwitch of CreateClusterNodePool's
// documented example values, seeded so those values work end to end.
var docCluster = enssim.ClusterSeed{ClusterId: "eck-xxxxxxxx", Name: "doc", EnsRegionId: "cn-fuzhou-23",
	VswitchIds: []string{"vsw-58eu2p6v64qw8ihhit1wz7wgv"}}

// docBody reads a body built from the document's example values
// (pkg/nodepool/testdata) and names the pool and the callback.
func docBody(t *testing.T, file, name, callbackURL string, change func(sg map[string]any)) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(moduleDir(), "pkg", "nodepool", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	body, err := localstack.Request(raw, name, callbackURL)
	if err != nil {
		t.Fatal(err)
	}
	if change != nil {
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		change(m["ScalingGroup"].(map[string]any))
		if body, err = json.Marshal(m); err != nil {
			t.Fatal(err)
		}
	}
	return body
}

// firstOf waits for the first event of type typ for name at rcv.
func firstOf(t *testing.T, rcv *localstack.Receiver, name, typ string, within time.Duration) callback.Event {
	t.Helper()
	var ev callback.Event
	testkit.WaitFor(t, within, name+" "+typ, func() bool {
		for _, c := range rcv.Received() {
			if c.Event.Data.Name == name && c.Event.Type == typ {
				ev = c.Event
				return true
			}
		}
		return false
	})
	return ev
}

// TestE2ERequestSemantics runs the request semantics through the real
// function binaries: the ENS document's example values, what callbacks and
// the status endpoint report, adoption and Conflict, a reused key, an
// unknown sealing key and a callback URL that could never be called.
func TestE2ERequestSemantics(t *testing.T) {
	t.Parallel()
	_, sec, cfg := newE2E(t)
	cfg.Clusters = append(enssim.DefaultClusters(), docCluster)
	st := testkit.Start(t, cfg)
	defer st.Close()
	rcv := newReceiver(t, sec)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	submit := func(body []byte, id string) (int, []byte) {
		t.Helper()
		status, resp, err := localstack.PostCreate(ctx, nil, st.URL(), sec.Webhook, id, body)
		if err != nil {
			t.Fatal(err)
		}
		return status, resp
	}

	// 1. The document's example values, with a key pair, with a password,
	// and with only the required parameters: accepted and created; the
	// callbacks and the status endpoint carry the ENS region.
	for file, name := range map[string]string{"ens-doc-values-keypair.json": "test1", "ens-doc-values-password.json": "test2",
		"ens-doc-required-only.json": "test3"} {
		if status, resp := submit(docBody(t, file, name, rcv.URL(), nil), ""); status != http.StatusAccepted {
			t.Fatalf("%s: %d %s", file, status, resp)
		}
	}
	for _, name := range []string{"test1", "test2", "test3"} {
		ev := firstOf(t, rcv, name, callback.TypeActive, 30*time.Second)
		if ev.Data.EnsRegionId != docCluster.EnsRegionId || ev.Data.NodepoolId == "" || ev.Data.Status == nil {
			t.Errorf("%s active data = %+v", name, ev.Data)
		}
	}
	status, pool, err := statusOf(ctx, st, sec.Webhook, docCluster.ClusterId, "test1")
	if err != nil || status != http.StatusOK {
		t.Fatalf("status endpoint: %d %v", status, err)
	}
	if info, _ := pool["NodepoolInfo"].(map[string]any); info["EnsRegionId"] != docCluster.EnsRegionId || info["NodepoolId"] == "" {
		t.Errorf("status endpoint NodepoolInfo = %v", pool["NodepoolInfo"])
	}
	if got := st.ENS().Stats().Creates; len(got) != 3 {
		t.Errorf("ENS creates = %+v, want 3", got)
	}

	// 2. The same pool name with another DesiredSize is a Conflict naming
	// the field; with the same spec and no DesiredSize it is adopted.
	submit(docBody(t, "ens-doc-values-keypair.json", "test1", rcv.URL(), func(sg map[string]any) { sg["DesiredSize"] = 4 }), "msg_resize")
	ev := firstOf(t, rcv, "test1", callback.TypeFailed, 20*time.Second)
	if ev.Data.Error == nil || ev.Data.Error.Code != callback.CodeConflict || !strings.Contains(ev.Data.Error.Message, "ScalingGroup.DesiredSize") {
		t.Errorf("resize: %+v, want Conflict naming ScalingGroup.DesiredSize", ev.Data.Error)
	}

	// 3. One webhook-id (no Idempotency-Key) for two different bodies: the
	// caller learns it — 422 at intake, or nodepool.failed
	// IdempotencyKeyReused when another webhook instance took the second.
	if status, resp := submit(docBody(t, "ens-doc-values-keypair.json", "keyed", rcv.URL(), nil), "msg_reused"); status != http.StatusAccepted {
		t.Fatalf("first keyed: %d %s", status, resp)
	}
	firstOf(t, rcv, "keyed", callback.TypeCreating, 20*time.Second)
	status, resp := submit(docBody(t, "ens-doc-values-keypair.json", "keyed-2", rcv.URL(), nil), "msg_reused")
	switch status {
	case http.StatusUnprocessableEntity:
		if !strings.Contains(string(resp), "idempotency_key_reused") {
			t.Errorf("422 body = %s", resp)
		}
	case http.StatusAccepted:
		ev := firstOf(t, rcv, "keyed-2", callback.TypeFailed, 20*time.Second)
		if ev.Data.Error == nil || ev.Data.Error.Code != callback.CodeIdempotencyKeyReused {
			t.Errorf("reused key: %+v", ev.Data.Error)
		}
	default:
		t.Errorf("reused key: %d %s", status, resp)
	}
	if n := countCreates(st.ENS(), docCluster.ClusterId, "keyed-2"); n != 0 {
		t.Errorf("reused key created %d pools", n)
	}

	// 4. An envelope sealed with a key id the functions do not hold fails
	// at once (not after POOL_DEADLINE) and is dead-lettered.
	keys, err := nodepool.ParseKeys("k9:CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=")
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := nodepool.NewSealer(keys)
	if err != nil {
		t.Fatal(err)
	}
	req, err := nodepool.Decode(docBody(t, "ens-doc-values-password.json", "foreign-key", rcv.URL(), nil))
	if err != nil {
		t.Fatal(err)
	}
	env, err := nodepool.NewEnvelope(req, "req_foreignkey", nodepool.SourceQueue, time.Now(), foreign)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	if _, err := st.Queue(st.Config().RequestsQueue).Send(ctx, string(msg), 0); err != nil {
		t.Fatal(err)
	}
	ev = firstOf(t, rcv, "foreign-key", callback.TypeFailed, 15*time.Second)
	if ev.Data.Error == nil || ev.Data.Error.Code != callback.CodeUnknownSealKey {
		t.Errorf("foreign key: %+v", ev.Data.Error)
	}
	t.Logf("unknown sealing key reported after %v", time.Since(sent).Round(time.Millisecond))
	testkit.WaitFor(t, 10*time.Second, "the dead letter", func() bool {
		msgs, err := st.Queue(st.Config().DeadLetterQueue).Receive(ctx, 16, 0)
		if err != nil {
			return false
		}
		for _, m := range msgs {
			if strings.Contains(m.Body, `"Code":"UnknownSealKey"`) && strings.Contains(m.Body, "req_foreignkey") {
				return true
			}
		}
		return false
	})

	// 5. A callback URL no sender could call is refused at intake.
	for _, u := range []string{"http://127.0.0.1:70000/cb", "ftp://127.0.0.1/cb", "http://127.0.0.1:0/cb"} {
		status, resp := submit(docBody(t, "ens-doc-values-keypair.json", "unreachable", u, nil), "")
		if status != http.StatusBadRequest || !strings.Contains(string(resp), `"field":"Callback.Url"`) {
			t.Errorf("callback %s: %d %s, want 400 on Callback.Url", u, status, resp)
		}
	}
}

// countCreates is how many pools ENS created for (cluster, name).
func countCreates(sim *enssim.Server, cluster, name string) int64 {
	for _, c := range sim.Stats().Creates {
		if c.ClusterId == cluster && c.Name == name {
			return c.Count
		}
	}
	return 0
}

// TestE2EBadSettingsNameTheVariable: each function binary refuses a
// malformed setting at start-up, naming the environment variable (never a
// Go struct field or the secret's value).
func TestE2EBadSettingsNameTheVariable(t *testing.T) {
	t.Parallel()
	base := []string{config.EnvMNSEndpoint + "=http://127.0.0.1:9", config.EnvWebhookSecret + "=" + localstack.DevWebhookSecret,
		config.EnvCallbackSecret + "=" + localstack.DevCallbackSecret, config.EnvSealKeys + "=" + localstack.DevSealKeys}
	for _, tc := range []struct{ fn, env string }{
		{"webhook", config.EnvPublicURL + "=not a url"},
		{"webhook", config.EnvWebhookSecret + "=short"},
		{"webhook", config.EnvENSEndpoint + "=https://ens.aliyuncs.com"},
		{"worker", config.EnvMNSEndpoint + "=127.0.0.1:9100/path"},
		{"worker", config.EnvSealKeys + "=k1:abc"},
		{"poller", config.EnvCallbackSecret + "=not-whsec"},
	} {
		name, value, _ := strings.Cut(tc.env, "=")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cmd := exec.CommandContext(ctx, filepath.Join(binDir, tc.fn))
		cmd.Env = append(append([]string{"PATH=" + os.Getenv("PATH")}, base...), tc.env)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		cancel()
		msg := stderr.String()
		if err == nil || !strings.Contains(msg, name) || strings.Contains(msg, "Config.") || strings.Contains(msg, value) {
			t.Errorf("%s with %s: err %v, stderr %q; want a start-up error naming %s only", tc.fn, name, err, msg, name)
		}
	}
}
