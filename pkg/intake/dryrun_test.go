package intake

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/dev/enssim"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
	"github.com/ensnodepool/webhook/pkg/ens"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// dryPool is the pool that exists before the dry runs: the request the
// adopt case sends.
const dryPool = `{"ClusterId":"eck-demo0001","NodepoolInfo":{"Name":"dry-pool"},"ScalingGroup":{"DesiredSize":2,` +
	`"ImageId":"m-demo0001","InstanceTypes":["ens.sn1.small"],"VswitchIds":["vsw-demo0001"],"KeyPairName":"demo-key"}}`

// dryRunStack is the handler over the ENS simulator (through the real ENS
// client) with dryPool created, and the MNS-backed requests queue.
func dryRunStack(t *testing.T, mod ...func(*Config)) (*testBundle, *testkit.ENS, string) {
	t.Helper()
	const ak, sk = "dry-ak", "dry-sk"
	es := testkit.StartENS(t, enssim.Config{AccessKeyID: ak, AccessKeySecret: sk, Clusters: enssim.DefaultClusters(), ProvisionTime: time.Hour})
	client := es.Client(t, ens.Config{MaxAttempts: 1})
	req, err := nodepool.Decode([]byte(dryPool))
	if err != nil {
		t.Fatal(err)
	}
	created, err := client.CreateClusterNodePool(context.Background(), req.ENS())
	if err != nil {
		t.Fatal(err)
	}
	b := setup(t, append([]func(*Config){func(c *Config) { c.Pools = client }}, mod...)...)
	return b, es, created.Nodepool.NodepoolInfo.NodepoolId
}

// dryRun sends body as a signed dry run, by secret.
func dryRun(t *testing.T, b *testBundle, secret, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/v1/nodepools?dryRun=true", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	sign(t, r, secret, "msg_dry", testNow, []byte(body))
	return b.do(r)
}

// TestDryRunOutcomes: a dry run answers what the worker would do —
// create, adopt (the pool's id) or conflict (each differing field with
// both values) — or refuses as a create would (400, 403) or with 422
// cluster_not_found naming ClusterId, or 503 while ENS does not answer.
// Through every one of them the simulator keeps its one pool and no
// other create call, and the requests queue stays empty.
func TestDryRunOutcomes(t *testing.T) {
	t.Parallel()
	b, es, existing := dryRunStack(t)
	r := strings.NewReplacer
	cases := []struct {
		name, body string
		status     int
		want       string // the 200 body, or the problem's code
	}{
		{"create", r(`"dry-pool"`, `"new-pool"`).Replace(dryPool), 200,
			`{"Outcome":"create","RequestId":"%s","ClusterId":"eck-demo0001","Name":"new-pool"}`},
		{"adopt", dryPool, 200,
			`{"Outcome":"adopt","RequestId":"%s","ClusterId":"eck-demo0001","Name":"dry-pool","NodepoolId":"` + existing + `"}`},
		{"conflict", r(`"DesiredSize":2`, `"DesiredSize":3`, `"ens.sn1.small"`, `"ens.sn1.medium"`).Replace(dryPool), 200,
			`{"Outcome":"conflict","RequestId":"%s","ClusterId":"eck-demo0001","Name":"dry-pool","NodepoolId":"` + existing + `",` +
				`"Differences":[{"Field":"ScalingGroup.DesiredSize","Requested":3,"Found":2},` +
				`{"Field":"ScalingGroup.InstanceTypes","Requested":["ens.sn1.medium"],"Found":["ens.sn1.small"]}]}`},
		{"unknown cluster", r(`"eck-demo0001"`, `"eck-nope0001"`).Replace(dryPool), 422, "cluster_not_found"},
		{"invalid", r(`"DesiredSize":2`, `"DesiredSize":0`).Replace(dryPool), 400, "invalid_request"},
	}
	for _, c := range cases {
		w := dryRun(t, b, secretNew, c.body)
		if c.status != 200 {
			p := mustProblem(t, w, c.status)
			if p.Code != c.want {
				t.Errorf("%s: code %s, want %s", c.name, p.Code, c.want)
			}
			if c.want == "cluster_not_found" && (len(p.Errors) != 1 || p.Errors[0].Field != "ClusterId") {
				t.Errorf("%s: errors %+v, want ClusterId", c.name, p.Errors)
			}
			continue
		}
		want := strings.Replace(c.want, "%s", nodepool.RequestID("", "msg_dry"), 1)
		if got := strings.TrimSpace(w.Body.String()); w.Code != 200 || got != want {
			t.Errorf("%s: %d %s\nwant 200 %s", c.name, w.Code, got, want)
		}
	}

	// ENS not answering: 503, nothing known.
	if err := es.Server.InjectFault(enssim.Fault{Action: "DescribeClusterNodePools", Count: 1, Code: "ServiceUnavailable", Status: 503}); err != nil {
		t.Fatal(err)
	}
	w := dryRun(t, b, secretNew, dryPool)
	if p := mustProblem(t, w, http.StatusServiceUnavailable); p.Code != "unavailable" || w.Header().Get("Retry-After") == "" {
		t.Errorf("ENS down: %s %v", p.Code, w.Header())
	}

	s := es.Server.Stats()
	if s.Pools != 1 || s.Calls["CreateClusterNodePool"] != 1 {
		t.Errorf("ENS has %d pools after %d creates, want the one created before the dry runs", s.Pools, s.Calls["CreateClusterNodePool"])
	}
	if got := b.queue.Received(t); len(got) != 0 {
		t.Errorf("the dry runs queued %d messages", len(got))
	}
	var outcomes []string
	for _, a := range auditRecords(t, b.logs.String()) {
		if a["Action"] == "dry-run" {
			outcomes = append(outcomes, a["Decision"].(string)+" "+strings.Fields(a["Reason"].(string) + " -")[0])
		}
	}
	want := []string{"accepted create", "accepted adopt", "accepted conflict", "denied cluster", "denied invalid:", "failed ENS"}
	if !slices.Equal(outcomes, want) {
		t.Errorf("dry-run audit records %q, want %q", outcomes, want)
	}
}

// TestDryRunForbidden: with CALLERS a dry run outside the caller's policy
// is the 403 a create gets, and a dry run by the caller whose policy
// allows it is judged; nothing is queued.
func TestDryRunForbidden(t *testing.T) {
	t.Parallel()
	b, es, existing := dryRunStack(t, withCallers(t))
	w := dryRun(t, b, secretB, dryPool) // team-b: eck-other* only, at most 1 node
	if p := mustProblem(t, w, http.StatusForbidden); p.Code != "forbidden" {
		t.Errorf("team-b: %s", w.Body)
	}
	w = dryRun(t, b, secretA, dryPool)
	var got struct{ Outcome, NodepoolId string }
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != 200 || got.Outcome != "adopt" || got.NodepoolId != existing {
		t.Errorf("portal-a: %d %s", w.Code, w.Body)
	}
	if n := len(b.queue.Received(t)); n != 0 || es.Server.Stats().Pools != 1 {
		t.Errorf("queued %d, pools %d", n, es.Server.Stats().Pools)
	}
}

// TestDryRunKeyReused: a dry run under a key that already stands for
// another body is refused as the create would be (422), and one under a
// fresh key does not take the key: the create with another body after it
// is accepted.
func TestDryRunKeyReused(t *testing.T) {
	t.Parallel()
	b, _, _ := dryRunStack(t)
	keyed := func(path, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader([]byte(body)))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Idempotency-Key", "order-7")
		sign(t, r, secretNew, "msg_keyed", testNow, []byte(body))
		return b.do(r)
	}
	other := strings.Replace(dryPool, `"dry-pool"`, `"other-pool"`, 1)
	if w := keyed("/v1/nodepools?dryRun=true", dryPool); w.Code != 200 {
		t.Fatalf("dry run: %d %s", w.Code, w.Body)
	}
	if w := keyed("/v1/nodepools", other); w.Code != http.StatusAccepted {
		t.Fatalf("create after a dry run of another body: %d %s", w.Code, w.Body)
	}
	if p := mustProblem(t, keyed("/v1/nodepools?dryRun=true", dryPool), http.StatusUnprocessableEntity); p.Code != "idempotency_key_reused" {
		t.Errorf("dry run under a used key: %s", p.Code)
	}
}
