package apicheck

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// fixed answers every request with status, header and body.
func fixed(status int, header map[string]string, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	})
}

const (
	goodAccepted = `{"RequestId":"req_ijd664d3hd2i37rhdq7qsen3jz","ClusterId":"eck-demo0001","Name":"demo-pool","State":"accepted",` +
		`"StatusUrl":"https://hooks.example.com/v1/clusters/eck-demo0001/nodepools/demo-pool"}`
	goodProblem = `{"type":"about:blank","title":"Bad Request","status":400,"detail":"the request is invalid","code":"invalid_request",` +
		`"errors":[{"field":"ClusterId","message":"is required"}]}`
)

var (
	jsonHeader     = map[string]string{"Content-Type": "application/json", "Location": "/v1/clusters/eck-demo0001/nodepools/demo-pool"}
	problemHeader  = map[string]string{"Content-Type": "application/problem+json"}
	drop           = func(s, member string) string { return strings.Replace(s, member, "", 1) }
	acceptedNoName = drop(goodAccepted, `"Name":"demo-pool",`)
)

// TestResponseDriftFails: answers the document does not describe are
// failures — an undocumented status, a missing member or header, an extra
// member, a wrong value or media type — while the documented answer is not.
func TestResponseDriftFails(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		h       http.Handler
		failing bool
	}{
		{"documented 202", fixed(202, jsonHeader, goodAccepted), false},
		{"documented 400", fixed(400, problemHeader, goodProblem), false},
		{"the 202 body under 200 (the dry-run status)", fixed(200, jsonHeader, goodAccepted), true},
		{"undocumented status 201", fixed(201, jsonHeader, goodAccepted), true},
		{"undocumented status 404", fixed(404, problemHeader, strings.NewReplacer("400", "404", "invalid_request", "not_found").Replace(goodProblem)), true},
		{"202 without Name", fixed(202, jsonHeader, acceptedNoName), true},
		{"202 without Location", fixed(202, map[string]string{"Content-Type": "application/json"}, goodAccepted), true},
		{"202 with an extra member", fixed(202, jsonHeader, strings.Replace(goodAccepted, `{`, `{"Extra":1,`, 1)), true},
		{"202 in another state", fixed(202, jsonHeader, strings.Replace(goodAccepted, `"accepted"`, `"queued"`, 1)), true},
		{"400 as application/json", fixed(400, map[string]string{"Content-Type": "application/json"}, goodProblem), true},
		{"400 with the code of 401", fixed(400, problemHeader, strings.Replace(goodProblem, "invalid_request", "unauthorized", 1)), true},
		{"400 without detail", fixed(400, problemHeader, drop(goodProblem, `"detail":"the request is invalid",`)), true},
		{"503 without Retry-After", fixed(503, problemHeader, strings.NewReplacer("400", "503", "invalid_request", "unavailable").Replace(goodProblem)), true},
	}
	for _, c := range cases {
		check, err := New(Config{})
		if err != nil {
			t.Fatal(err)
		}
		serve(check.Handler(c.h), signed(t, "POST", "/v1/nodepools", ensDoc(t), secret))
		if got := len(check.Failures()) > 0; got != c.failing {
			t.Errorf("%s: failing = %v, want %v; %v", c.name, got, c.failing, check.Failures())
		}
	}
}

// TestRequestDriftFails: a 2xx answer to a request the document refuses
// (unsigned, a body breaking the schema, a signature over other content)
// is a failure; the same requests answered with their documented 4xx are
// not.
func TestRequestDriftFails(t *testing.T) {
	t.Parallel()
	body := ensDoc(t)
	bad := bytes.Replace(body, []byte(`"DesiredSize": 3`), []byte(`"DesiredSize": 0`), 1)
	overBody := signed(t, "GET", "/v1/clusters/eck-demo0001/nodepools/demo-pool", nil, secret)
	sign(t, overBody.Header, secret, "msg_1", nil) // a GET signed over its empty body, not its path
	unauthorized := `{"type":"about:blank","title":"Unauthorized","status":401,"detail":"missing or invalid webhook signature","code":"unauthorized"}`
	wwwAuth := map[string]string{"Content-Type": "application/problem+json", "WWW-Authenticate": `Signature realm="webhook", scheme="standard-webhooks-v1"`}
	cases := []struct {
		name string
		req  func() *http.Request
		ok   http.Handler // the service as documented
		lax  http.Handler // a service that accepts it
	}{
		{"unsigned", func() *http.Request { return unsigned("POST", "/v1/nodepools", body) },
			fixed(401, wwwAuth, unauthorized), fixed(202, jsonHeader, goodAccepted)},
		{"signed with another secret", func() *http.Request { return signed(t, "POST", "/v1/nodepools", body, otherSecret) },
			fixed(401, wwwAuth, unauthorized), fixed(202, jsonHeader, goodAccepted)},
		{"DesiredSize 0", func() *http.Request { return signed(t, "POST", "/v1/nodepools", bad, secret) },
			fixed(400, problemHeader, goodProblem), fixed(202, jsonHeader, goodAccepted)},
		{"GET signed over the body", func() *http.Request { return overBody.Clone(overBody.Context()) },
			fixed(401, wwwAuth, unauthorized), fixed(200, map[string]string{"Content-Type": "application/json"}, mustJSON(t, demoPool))},
	}
	for _, c := range cases {
		for _, lax := range []bool{false, true} {
			check, err := New(Config{Secrets: []string{secret}})
			if err != nil {
				t.Fatal(err)
			}
			h := c.ok
			if lax {
				h = c.lax
			}
			serve(check.Handler(h), c.req())
			if got := len(check.Failures()) > 0; got != lax {
				t.Errorf("%s, service accepts it = %v: failing = %v; %v", c.name, lax, got, check.Failures())
			}
		}
	}
}

// TestUnroutedDriftFails: a request no operation takes must get the
// document's 404 or 405 problem.
func TestUnroutedDriftFails(t *testing.T) {
	t.Parallel()
	notFound := `{"type":"about:blank","title":"Not Found","status":404,"detail":"no such route","code":"not_found"}`
	cases := []struct {
		name    string
		req     *http.Request
		h       http.Handler
		failing bool
	}{
		{"404 problem", unsigned("GET", "/v1/nothing", nil), fixed(404, problemHeader, notFound), false},
		{"404 as text", unsigned("GET", "/v1/nothing", nil), fixed(404, map[string]string{"Content-Type": "text/plain"}, "not found"), true},
		{"200 for no route", unsigned("GET", "/v1/nothing", nil), fixed(200, jsonHeader, `{}`), true},
		{"405 without Allow", unsigned("PUT", "/healthz", nil),
			fixed(405, problemHeader, strings.NewReplacer("404", "405", "not_found", "method_not_allowed").Replace(notFound)), true},
	}
	for _, c := range cases {
		check, err := New(Config{})
		if err != nil {
			t.Fatal(err)
		}
		serve(check.Handler(c.h), c.req)
		if got := len(check.Failures()) > 0; got != c.failing {
			t.Errorf("%s: failing = %v, want %v; %v", c.name, got, c.failing, check.Failures())
		}
	}
}
