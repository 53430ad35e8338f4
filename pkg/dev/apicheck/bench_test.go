package apicheck

import (
	"context"
	"net/http/httptest"
	"testing"
)

// BenchmarkCheckExchange: the cost the Checker adds to one create (202)
// and one status read (200), request and response validated. The bodies'
// schemas are compiled once per process (schemas.go); what remains is
// mostly kin-openapi compiling the small schemas of the parameters and
// headers again on every validation.
func BenchmarkCheckExchange(b *testing.B) {
	check, err := New(Config{Secrets: []string{secret}})
	if err != nil {
		b.Fatal(err)
	}
	h := intakeHandler(b, &memQueue{})
	for _, c := range []struct{ name, method, target string }{
		{"create", "POST", "/v1/nodepools"},
		{"status", "GET", "/v1/clusters/eck-demo0001/nodepools/demo-pool"},
	} {
		var body []byte
		if c.method == "POST" {
			body = ensDoc(b)
		}
		req := signed(b, c.method, c.target, body, secret)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, signed(b, c.method, c.target, body, secret))
		x := Exchange{Request: req, RequestBody: body, Status: w.Code, Header: w.Header(), Body: w.Body.Bytes()}
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if err := check.CheckExchange(context.Background(), x); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
