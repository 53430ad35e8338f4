package intake

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ensnodepool/webhook/pkg/caller"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// Caller secrets of the tests (24+ bytes, as CALLERS requires).
const (
	secretA  = "whsec_YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE="
	secretA2 = "whsec_YTJhMmEyYTJhMmEyYTJhMmEyYTJhMmEyYTJhMmE="
	secretB  = "whsec_YmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmI="
)

func testCallers(tb testing.TB) *caller.Set {
	tb.Helper()
	set, err := caller.Parse([]byte(`[
	 {"Id":"portal-a","Secrets":["` + secretA + `","` + secretA2 + `"],"Clusters":["eck-abc","eck-demo*"],"MaxDesiredSize":10},
	 {"Id":"team-b","Secrets":["` + secretB + `"],"Clusters":["eck-other*"],"MaxDesiredSize":1,"InstanceTypes":["ens.gn5.*"]}]`))
	if err != nil {
		tb.Fatal(err)
	}
	return set
}

func withCallers(tb testing.TB) func(*Config) {
	set := testCallers(tb)
	return func(c *Config) { c.Secrets, c.Callers = nil, set }
}

func signedPost(tb testing.TB, secret string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/v1/nodepools", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	sign(tb, r, secret, "msg_callers", testNow, body)
	return r
}

// auditRecords returns the "msg":"audit" records of the logs.
func auditRecords(tb testing.TB, logs string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "audit" {
			out = append(out, m)
		}
	}
	return out
}

// TestCallersCreate: the signing secret picks the caller; inside its
// policy → 202 and an envelope naming it; outside → 403 forbidden naming
// the rule and field, nothing queued, nothing of the other caller said;
// each decision audited.
func TestCallersCreate(t *testing.T) {
	t.Parallel()
	body := readFile(t, "ens-doc-example.json") // eck-abc, DesiredSize 2, ens.sn1.*
	b := setup(t, withCallers(t))

	for _, sec := range []string{secretA, secretA2} {
		w := b.do(signedPost(t, sec, body))
		if w.Code != http.StatusAccepted {
			t.Fatalf("caller A: %d %s", w.Code, w.Body)
		}
	}
	msgs := b.queue.Received(t)
	if len(msgs) != 2 {
		t.Fatalf("queued %d", len(msgs))
	}
	signed, err := nodepool.ParseSigned([]byte(msgs[0]))
	if err != nil {
		t.Fatalf("a caller's envelope is not signed: %v", err)
	}
	a, _ := testCallers(t).Lookup("portal-a")
	if err := signed.Verify(a.EnvelopeKeys()); err != nil {
		t.Errorf("the envelope does not verify with portal-a's secrets: %v", err)
	}
	env, err := nodepool.Parse([]byte(signed.Envelope))
	if err != nil || env.Caller != "portal-a" {
		t.Fatalf("envelope %+v, %v", env, err)
	}

	w := b.do(signedPost(t, secretB, body))
	p := mustProblem(t, w, http.StatusForbidden)
	if p.Code != "forbidden" || p.Detail != "ClusterId: not a cluster this caller may create in (rule Clusters)" ||
		len(p.Errors) != 1 || p.Errors[0].Field != "ClusterId" {
		t.Errorf("403 = %+v", p)
	}
	if strings.Contains(w.Body.String(), "portal-a") || strings.Contains(w.Body.String(), "eck-demo*") || strings.Contains(w.Body.String(), "eck-abc\"") {
		t.Errorf("403 tells of another caller: %s", w.Body)
	}
	var raw map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &raw)
	if raw["rule"] != "Clusters" {
		t.Errorf("rule = %v", raw["rule"])
	}
	if n := len(b.queue.Received(t)); n != 2 {
		t.Errorf("403 queued a message (%d)", n)
	}

	big := bytes.Replace(body, []byte(`"DesiredSize":2,`), []byte(`"DesiredSize":11,`), 1)
	p = mustProblem(t, b.do(signedPost(t, secretA, big)), http.StatusForbidden)
	if p.Detail != "ScalingGroup.DesiredSize: at most 10 for this caller (rule MaxDesiredSize)" {
		t.Errorf("detail %q", p.Detail)
	}

	// Simple-mode secrets mean nothing now, and a failed request looks the
	// same as with no callers at all.
	w = b.do(post(t, body))
	mustProblem(t, w, http.StatusUnauthorized)

	recs := auditRecords(t, b.logs.String())
	var got []string
	for _, r := range recs {
		got = append(got, r["Caller"].(string)+"/"+r["Decision"].(string)+"/"+r["Source"].(string))
		for _, k := range []string{"Action", "ClusterId", "Name", "RequestId", "Reason"} {
			if _, ok := r[k]; !ok {
				t.Errorf("audit record lacks %s: %v", k, r)
			}
		}
	}
	want := []string{"portal-a/accepted/api", "portal-a/accepted/api", "team-b/denied/api", "portal-a/denied/api", "/denied/api"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("audit = %v, want %v", got, want)
	}
	if recs[2]["Reason"] != "ClusterId: not a cluster this caller may create in (rule Clusters)" {
		t.Errorf("denied reason %v", recs[2]["Reason"])
	}
	for _, sec := range []string{secretA, secretA2, secretB, "YWFhYWFh"} {
		if strings.Contains(b.logs.String(), strings.TrimPrefix(sec, "whsec_")) {
			t.Error("a secret reached the logs")
		}
	}
}

// TestCallersStatus: a caller reads only clusters it may create in.
func TestCallersStatus(t *testing.T) {
	t.Parallel()
	b := setup(t, withCallers(t))
	get := func(path, secret string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		sign(t, r, secret, "msg_s", testNow, []byte(r.URL.EscapedPath()))
		return b.do(r)
	}
	if w := get("/v1/clusters/eck-demo0001/nodepools/p1", secretA); w.Code != http.StatusNotFound {
		t.Errorf("A in its cluster: %d %s", w.Code, w.Body) // the fake lists no pools
	}
	p := mustProblem(t, get("/v1/clusters/eck-demo0001/nodepools/p1", secretB), http.StatusForbidden)
	if p.Errors[0].Field != "ClusterId" {
		t.Errorf("403 %+v", p)
	}
}

func TestCallersConfig(t *testing.T) {
	t.Parallel()
	set := testCallers(t)
	if _, err := New(Config{Secrets: []string{secretNew}, Callers: set, Queue: &memQueue{}, Pools: fakePools{}, Sealer: setup(t).sealer}); err == nil {
		t.Error("Secrets and Callers together accepted")
	}
	if _, err := caller.Parse([]byte(`[{"Id":"c","Clusters":["*"],"Chat":["feishu:ou_1"]}]`)); err == nil {
		t.Error("a caller without any secret accepted")
	}
}

// TestCallersKeysAreTheirOwn: the same Idempotency-Key from two callers
// names two requests (two RequestIds), so one caller's key neither
// collides with nor reveals another's.
func TestCallersKeysAreTheirOwn(t *testing.T) {
	t.Parallel()
	set, err := caller.Parse([]byte(`[{"Id":"a","Secrets":["` + secretA + `"],"Clusters":["*"]},{"Id":"b","Secrets":["` + secretB + `"],"Clusters":["*"]}]`))
	if err != nil {
		t.Fatal(err)
	}
	b := setup(t, func(c *Config) { c.Secrets, c.Callers = nil, set })
	body := readFile(t, "ens-doc-example.json")
	ids := map[string]bool{}
	for _, sec := range []string{secretA, secretB, secretA} {
		r := signedPost(t, sec, body)
		r.Header.Set("Idempotency-Key", "shared-key")
		w := b.do(r)
		var a accepted
		if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil || w.Code != http.StatusAccepted {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		ids[a.RequestId] = true
	}
	if len(ids) != 2 {
		t.Errorf("RequestIds %v: want one per caller", ids)
	}
}
