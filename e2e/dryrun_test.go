package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/dev/localstack"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
)

// TestE2EDryRun: dry runs through the webhook binary against a pool the
// worker created: the same body is "adopt" (its NodepoolId), another size
// "conflict" (the differing field), another name "create", an unknown
// cluster 422 cluster_not_found, a body breaking the rules 400 — each
// answer validated against the API document by the kit's Checker. ENS
// keeps its one pool and one create, the requests queue stays empty and no
// callback follows.
func TestE2EDryRun(t *testing.T) {
	t.Parallel()
	_, sec, cfg := newE2E(t)
	st := testkit.Start(t, cfg)
	defer st.Close()
	rcv := newReceiver(t, sec)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	submit(t, st, sec, "dry-e2e", rcv.URL())
	active := firstOf(t, rcv, "dry-e2e", callback.TypeActive, 30*time.Second)

	body := func(name string, edit func(m map[string]any)) []byte {
		b, err := json.Marshal(requestMap(t, name, rcv.URL(), edit))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	type result struct {
		Outcome, RequestId, ClusterId, Name, NodepoolId string
		Differences                                     []struct {
			Field            string
			Requested, Found any
		}
		Code   string `json:"code"`
		Errors []struct{ Field string }
	}
	dry := func(b []byte) (int, result) {
		status, resp, err := localstack.PostDryRun(ctx, nil, st.URL(), sec.Webhook, b)
		if err != nil {
			t.Fatal(err)
		}
		var r result
		if err := json.Unmarshal(resp, &r); err != nil {
			t.Fatalf("%d %s", status, resp)
		}
		return status, r
	}
	size := func(n int) func(m map[string]any) {
		return func(m map[string]any) { m["ScalingGroup"].(map[string]any)["DesiredSize"] = n }
	}

	if s, r := dry(body("dry-e2e", nil)); s != http.StatusOK || r.Outcome != "adopt" || r.NodepoolId != active.Data.NodepoolId {
		t.Errorf("same spec: %d %+v, want adopt %s", s, r, active.Data.NodepoolId)
	}
	desired := active.Data.Status.DesiredNodes
	s, r := dry(body("dry-e2e", size(int(desired)+1)))
	if s != http.StatusOK || r.Outcome != "conflict" || len(r.Differences) != 1 || r.Differences[0].Field != "ScalingGroup.DesiredSize" ||
		r.Differences[0].Found != float64(desired) {
		t.Errorf("another size: %d %+v, want a conflict in DesiredSize (found %d)", s, r, desired)
	}
	if s, r := dry(body("dry-e2e-new", nil)); s != http.StatusOK || r.Outcome != "create" || r.NodepoolId != "" {
		t.Errorf("another name: %d %+v, want create", s, r)
	}
	unknown := body("dry-e2e", func(m map[string]any) { m["ClusterId"] = "eck-nope0001" })
	if s, r := dry(unknown); s != http.StatusUnprocessableEntity || r.Code != "cluster_not_found" || len(r.Errors) != 1 || r.Errors[0].Field != "ClusterId" {
		t.Errorf("unknown cluster: %d %+v", s, r)
	}
	if s, r := dry(body("dry-e2e", size(0))); s != http.StatusBadRequest || r.Code != "invalid_request" {
		t.Errorf("DesiredSize 0: %d %+v", s, r)
	}

	// Nothing was queued or created, and no callback follows.
	time.Sleep(3 * cfg.PollInterval)
	if s := st.ENS().Stats(); s.Pools != 1 || s.Calls["CreateClusterNodePool"] != 1 {
		t.Errorf("ENS: %d pools after %d creates, want 1 and 1", s.Pools, s.Calls["CreateClusterNodePool"])
	}
	q, err := inspector(st).Queue(ctx, st.Config().RequestsQueue)
	if err != nil || q.Total != 0 {
		t.Errorf("requests queue: %+v %v, want empty", q, err)
	}
	for _, c := range rcv.Received() {
		if c.Event.Data.Name != "dry-e2e" || c.Event.Data.Sequence > 2 {
			t.Errorf("callback after the dry runs: %s %s #%d", c.Event.Type, c.Event.Data.Name, c.Event.Data.Sequence)
		}
	}
}

// requestMap is the sample request for pool name with its callback,
// changed by edit, as a JSON object.
func requestMap(t *testing.T, name, url string, edit func(m map[string]any)) map[string]any {
	t.Helper()
	b, err := localstack.Request(template(t), name, url)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(m)
	}
	return m
}
