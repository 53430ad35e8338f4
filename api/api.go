// Package api holds the OpenAPI 3.1 document of the webhook's public
// interface (openapi.yaml), served as GET /v1/openapi.json. It describes
// every route of the JSON API and the ChatOps routes, their problem codes,
// the Standard Webhooks security schemes, and the signed callbacks under
// "webhooks": the contract portal teams generate their clients and
// receivers from.
//
// The document is embedded: YAML returns it as written, JSON as the webhook
// serves it at GET /v1/openapi.json (Handler). Package api/spec gives it
// parsed with kin-openapi (github.com/getkin/kin-openapi), for the lint
// tests here and the test hooks in pkg/dev/apicheck; it is a package of its
// own so that the webhook, which only serves the document, does not link
// kin-openapi (about 5.6 MB more binary).
//
// Parts marked "x-planned: true" (operations, parameters, responses,
// schemas) and the codes listed in ProblemCode's "x-planned" are fixed
// contracts the service does not serve yet; the tests fail once one of
// them is served (or its code exists in pkg/intake) and still marked.
package api

import (
	_ "embed" // the document
	"net/http"
	"strconv"
	"sync"
)

//go:embed openapi.yaml
var document []byte

// Path is where the webhook serves the document as JSON.
const Path = "/v1/openapi.json"

// YAML returns the document as written (a copy).
func YAML() []byte { return append([]byte(nil), document...) }

// jsonDocument converts the embedded YAML once.
var jsonDocument = sync.OnceValues(func() ([]byte, error) { return yamlToJSON(document) })

// JSON returns the document as JSON, members in the order written (a copy).
// The error is for a document that is not YAML, which the tests rule out.
func JSON() ([]byte, error) {
	b, err := jsonDocument()
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), b...), nil
}

// Handler serves the document as JSON, as GET /v1/openapi.json describes
// it: unsigned, application/json, cacheable for a minute (the document
// changes only with a deployment). Route it for GET ("GET " + Path on an
// http.ServeMux, which routes HEAD to it too); it does not look at the
// method.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := jsonDocument()
		if err != nil {
			http.Error(w, "the document is unavailable", http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "public, max-age=60")
		h.Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b) // a HEAD's ResponseWriter discards it
	})
}
