package apicheck

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ensnodepool/webhook/pkg/caller"
	"github.com/ensnodepool/webhook/pkg/intake"
)

// TestIntakeMatchesDocument drives the real webhook handler (pkg/intake)
// in process through the Checker, with the signature verified as the
// document describes it: every answer, success or error, is one the
// document describes.
func TestIntakeMatchesDocument(t *testing.T) {
	t.Parallel()
	q := &memQueue{}
	check := NewT(t, Config{Secrets: []string{secret}})
	h := check.Handler(intakeHandler(t, q))
	body := ensDoc(t)
	bad := bytes.Replace(body, []byte(`"DesiredSize": 3`), []byte(`"DesiredSize": 0`), 1)
	other := bytes.Replace(body, []byte(`"DesiredSize": 3`), []byte(`"DesiredSize": 4`), 1)
	keyed := func(r *http.Request) *http.Request { r.Header.Set("Idempotency-Key", "order-1"); return r }
	cases := []struct {
		name string
		req  *http.Request
		want int
	}{
		{"create", signed(t, "POST", "/v1/nodepools", body, secret), 202},
		{"create with a key", keyed(signed(t, "POST", "/v1/nodepools", body, secret)), 202},
		{"the key with another body", keyed(signed(t, "POST", "/v1/nodepools", other, secret)), 422},
		{"invalid body", signed(t, "POST", "/v1/nodepools", bad, secret), 400},
		{"not JSON", signed(t, "POST", "/v1/nodepools", []byte(`ClusterId=eck-1`), secret), 400},
		{"unsigned", unsigned("POST", "/v1/nodepools", body), 401},
		{"signed with another secret", signed(t, "POST", "/v1/nodepools", body, otherSecret), 401},
		{"too large", signed(t, "POST", "/v1/nodepools", bytes.Repeat([]byte(" "), 65<<10), secret), 413},
		{"status", signed(t, "GET", "/v1/clusters/eck-demo0001/nodepools/demo-pool", nil, secret), 200},
		{"status of a missing pool", signed(t, "GET", "/v1/clusters/eck-demo0001/nodepools/other", nil, secret), 404},
		{"status of a missing cluster", signed(t, "GET", "/v1/clusters/eck-nope/nodepools/demo-pool", nil, secret), 404},
		{"status with a bad name", signed(t, "GET", "/v1/clusters/eck-demo0001/nodepools/-x", nil, secret), 400},
		{"status unsigned", unsigned("GET", "/v1/clusters/eck-demo0001/nodepools/demo-pool", nil), 401},
		{"health", unsigned("GET", "/healthz", nil), 200},
		{"no such route", unsigned("GET", "/v1/nothing", nil), 404},
		{"another method", unsigned("DELETE", "/v1/nodepools", nil), 405},
	}
	cases = append(cases, dryRunCases(t)...)
	ct := signed(t, "POST", "/v1/nodepools", body, secret)
	ct.Header.Set("Content-Type", "text/plain")
	cases = append(cases, struct {
		name string
		req  *http.Request
		want int
	}{"not application/json", ct, 415})
	for _, c := range cases {
		if got := serve(h, c.req); got != c.want {
			t.Errorf("%s: status %d, want %d", c.name, got, c.want)
		}
	}
	q.setFail(true)
	if got := serve(h, signed(t, "POST", "/v1/nodepools", body, secret)); got != 503 {
		t.Errorf("queue down: status %d, want 503", got)
	}
	if n := check.Checked(); n != len(cases)+1 {
		t.Errorf("checked %d exchanges, want %d", n, len(cases)+1)
	}
}

// dryRunCases are dry runs of each outcome and refusal against the demo
// pool (see pools), as TestIntakeMatchesDocument sends them.
func dryRunCases(t *testing.T) []struct {
	name string
	req  *http.Request
	want int
} {
	// The demo pool's own spec, as a request with a password (ENS masks it).
	same := `{"ClusterId":"eck-demo0001","NodepoolInfo":{"Name":"demo-pool"},"ScalingGroup":{"DesiredSize":2,"ImageId":"m-demo0001",` +
		`"InstanceTypes":["ens.sn1.small"],"VswitchIds":["vsw-demo0001"],"Password":"Demo-pass-1","SystemDiskCategory":"cloud_efficiency",` +
		`"SystemDiskSize":40,"DataDisks":[{"Category":"cloud_ssd","Size":100}]},"KubernetesConfig":{"UserData":"ZWNobyBvawo="}}`
	dry := func(body string) *http.Request {
		return signed(t, "POST", "/v1/nodepools?dryRun=true", []byte(body), secret)
	}
	r := strings.NewReplacer
	return []struct {
		name string
		req  *http.Request
		want int
	}{
		{"dry run: adopt", dry(same), 200},
		{"dry run: conflict", dry(r(`"DesiredSize":2`, `"DesiredSize":3`, `"ens.sn1.small"`, `"ens.sn1.medium"`).Replace(same)), 200},
		{"dry run: create", dry(r(`"demo-pool"`, `"new-pool"`).Replace(same)), 200},
		{"dry run: unknown cluster", dry(r(`"eck-demo0001"`, `"eck-nope"`).Replace(same)), 422},
		{"dry run: invalid", dry(r(`"DesiredSize":2`, `"DesiredSize":0`).Replace(same)), 400},
		{"dry run: dryRun=yes", signed(t, "POST", "/v1/nodepools?dryRun=yes", []byte(same), secret), 400},
		{"dryRun=false creates", signed(t, "POST", "/v1/nodepools?dryRun=false", []byte(r(`"demo-pool"`, `"new-pool"`).Replace(same)), secret), 202},
	}
}

// TestIntakeThroughTransport: the same check from the client side, over
// HTTP, for a create and a status read.
func TestIntakeThroughTransport(t *testing.T) {
	t.Parallel()
	check := NewT(t, Config{Secrets: []string{secret}})
	srv := httptest.NewServer(intakeHandler(t, &memQueue{}))
	defer srv.Close()
	client := &http.Client{Transport: check.Transport(srv.Client().Transport)}
	for _, r := range []*http.Request{
		signed(t, "POST", srv.URL+"/v1/nodepools", ensDoc(t), secret),
		signed(t, "GET", srv.URL+"/v1/clusters/eck-demo0001/nodepools/demo-pool", nil, secret),
		unsigned("POST", srv.URL+"/v1/nodepools", ensDoc(t)),
	} {
		r.RequestURI = ""
		resp, err := client.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if check.Checked() != 3 {
		t.Errorf("checked %d exchanges, want 3", check.Checked())
	}
}

// TestIntakeForbiddenMatchesDocument: with CALLERS, a request outside the
// caller's policy is a 403 problem naming the rule and the field.
func TestIntakeForbiddenMatchesDocument(t *testing.T) {
	t.Parallel()
	set, err := caller.Parse([]byte(`[{"Id":"portal-a","Secrets":["` + secret + `"],"Clusters":["eck-demo0001"],"MaxDesiredSize":2}]`))
	if err != nil {
		t.Fatal(err)
	}
	check := NewT(t, Config{Secrets: []string{secret}})
	h := check.Handler(intakeHandler(t, &memQueue{}, func(c *intake.Config) { c.Secrets, c.Callers = nil, set }))
	if got := serve(h, signed(t, "POST", "/v1/nodepools", ensDoc(t), secret)); got != 403 {
		t.Errorf("status %d, want 403", got)
	}
	if got := serve(h, signed(t, "POST", "/v1/nodepools?dryRun=true", ensDoc(t), secret)); got != 403 {
		t.Errorf("dry run: status %d, want 403", got)
	}
	body := strings.NewReplacer(`"eck-xxxxxxxx"`, `"eck-demo0001"`, `"DesiredSize": 3`, `"DesiredSize": 2`).Replace(string(ensDoc(t)))
	if got := serve(h, signed(t, "POST", "/v1/nodepools", []byte(body), secret)); got != 202 {
		t.Errorf("status %d, want 202", got)
	}
	if got := serve(h, signed(t, "GET", "/v1/clusters/eck-other/nodepools/demo-pool", nil, secret)); got != 403 {
		t.Errorf("status %d, want 403", got)
	}
}
