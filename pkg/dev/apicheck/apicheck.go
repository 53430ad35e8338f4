// Package apicheck holds the service to its OpenAPI document (package api)
// in tests: it validates requests, responses and callbacks against it. A
// Checker validates HTTP exchanges with kin-openapi's
// openapi3filter: requests and responses of the routes under "paths"
// (through Transport, for a client, or Handler, for a handler under test)
// and received callbacks against their "webhooks" entry (CheckCallback,
// Receiver). It records every failure; NewT reports them when the test
// ends, so a response the document does not describe fails the test.
//
// What counts as a failure:
//
//   - a response whose status the operation does not list, whose headers
//     or body do not match the listed response, or that has a body where
//     the document describes none;
//   - a 2xx answer to a request the document refuses (its parameters,
//     body or security): the service accepts what the document forbids.
//     A request the document refuses that gets a documented 4xx is what a
//     negative test sends, and no failure;
//   - a request no operation takes whose answer does not match the
//     document's x-unrouted-responses (404 for a path, 405 for a method);
//   - a callback whose type has no webhook, or whose headers, signature or
//     body do not match it.
//
// With Config.Secrets (and CallbackSecrets) the webhook-signature is
// verified as the document's security scheme describes it: over the body
// of a POST and over the path as sent of a GET, with the Standard Webhooks
// reference library; without them only the form of the headers is checked.
// The timestamp window is the service's business and is not checked.
package apicheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/ensnodepool/webhook/api/spec"
)

// Config configures a Checker.
type Config struct {
	// Secrets are the "whsec_" secrets requests are signed with; when set,
	// each request's webhook-signature must verify with one of them.
	Secrets []string
	// CallbackSecrets are the "whsec_" secrets callbacks are signed with;
	// when set, each callback's signature must verify with one of them.
	CallbackSecrets []string
}

// Failure is one exchange or callback that does not match the document.
type Failure struct {
	// Where names it: "POST /v1/nodepools → 202" or "callback nodepool.active".
	Where string
	// Err says what does not match.
	Err error
}

// String implements fmt.Stringer.
func (f Failure) String() string { return f.Where + ": " + f.Err.Error() }

// Checker validates exchanges and callbacks against the document and
// records the failures. Safe for concurrent use.
type Checker struct {
	cfg      Config
	doc      *openapi3.T
	router   routers.Router
	unrouted map[int]*openapi3.ResponseRef // x-unrouted-responses
	schemas  *schemas

	mu       sync.Mutex
	failures []Failure
	checked  int
}

// New returns a Checker for the document.
func New(cfg Config) (*Checker, error) {
	d, err := loaded()
	if err != nil {
		return nil, err
	}
	return &Checker{cfg: cfg, doc: d.doc, router: d.router, unrouted: d.unrouted, schemas: d.schemas}, nil
}

// document is the parsed document with its router and compiled body
// schemas, shared by every Checker of the process: validation only reads
// them (and compiles each body schema once).
type document struct {
	doc      *openapi3.T
	router   routers.Router
	unrouted map[int]*openapi3.ResponseRef
	schemas  *schemas
}

var loaded = sync.OnceValues(func() (document, error) {
	doc, err := spec.Load(context.Background())
	if err != nil {
		return document{}, err
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return document{}, fmt.Errorf("apicheck: router: %w", err)
	}
	bodies, err := newSchemas()
	if err != nil {
		return document{}, err
	}
	d := document{doc: doc, router: router, unrouted: map[int]*openapi3.ResponseRef{}, schemas: bodies}
	ext, _ := doc.Extensions["x-unrouted-responses"].(map[string]any)
	for key, v := range ext {
		status, err := strconv.Atoi(key)
		ref, _ := v.(map[string]any)["$ref"].(string)
		name, ok := strings.CutPrefix(ref, "#/components/responses/")
		if err != nil || !ok || doc.Components.Responses[name] == nil {
			return document{}, fmt.Errorf("apicheck: x-unrouted-responses %q: want a status and a $ref to a response component", key)
		}
		d.unrouted[status] = &openapi3.ResponseRef{Ref: ref, Value: doc.Components.Responses[name].Value}
	}
	return d, nil
})

// NewT returns a Checker whose failures fail tb when the test ends.
func NewT(tb testing.TB, cfg Config) *Checker {
	tb.Helper()
	c, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Report(tb) })
	return c
}

// Report fails tb with every failure recorded so far.
func (c *Checker) Report(tb testing.TB) {
	tb.Helper()
	for _, f := range c.Failures() {
		tb.Errorf("apicheck: the document does not describe %s", f)
	}
}

// Failures returns the failures recorded so far.
func (c *Checker) Failures() []Failure {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Failure(nil), c.failures...)
}

// Checked returns how many exchanges and callbacks were checked, so a test
// can tell that its traffic went through the Checker.
func (c *Checker) Checked() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.checked
}

// record counts one check and keeps its failure; it returns err.
func (c *Checker) record(where string, err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checked++
	if err != nil {
		c.failures = append(c.failures, Failure{Where: where, Err: err})
	}
	return err
}

// Exchange is one request with its answer, bodies read in full.
type Exchange struct {
	Request     *http.Request // its Body is not read; RequestBody is the body
	RequestBody []byte
	Status      int
	Header      http.Header
	Body        []byte
}

// CheckExchange validates x against the document, records a failure and
// returns it (nil when x matches).
func (c *Checker) CheckExchange(ctx context.Context, x Exchange) error {
	where := fmt.Sprintf("%s %s → %d", x.Request.Method, x.Request.URL.RequestURI(), x.Status)
	return c.record(where, c.exchange(ctx, x))
}

func (c *Checker) exchange(ctx context.Context, x Exchange) error {
	req := x.Request.Clone(ctx)
	req.Body = http.NoBody
	if len(x.RequestBody) > 0 {
		req.Body = readCloser(x.RequestBody)
	}
	route, params, err := c.router.FindRoute(req)
	switch {
	case errors.Is(err, routers.ErrPathNotFound):
		return c.checkUnrouted(ctx, req, http.StatusNotFound, x)
	case errors.Is(err, routers.ErrMethodNotAllowed):
		return c.checkUnrouted(ctx, req, http.StatusMethodNotAllowed, x)
	case err != nil:
		return fmt.Errorf("routing: %w", err)
	}
	jsonBody := isJSON(req.Header.Get("Content-Type"))
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{MultiError: true, ExcludeRequestBody: jsonBody,
			AuthenticationFunc: authenticator(c.cfg.Secrets, signedContent(x))},
	}
	refused := openapi3filter.ValidateRequest(ctx, in)
	if rb := route.Operation.RequestBody; jsonBody && rb != nil {
		refused = errors.Join(refused, c.requestBody(rb, operationPointer(route)+"/requestBody", req.Header, x.RequestBody))
	}
	var errs []error
	if refused != nil && x.Status < 300 {
		errs = append(errs, fmt.Errorf("the document refuses this request, the service answered %d: %w", x.Status, refused))
	}
	errs = append(errs, c.checkResponse(ctx, in, x))
	return errors.Join(errs...)
}

// requestBody validates a JSON request body against the request body
// object rb (at pointer at, unless it refers to a component).
func (c *Checker) requestBody(rb *openapi3.RequestBodyRef, at string, h http.Header, data []byte) error {
	if len(data) == 0 {
		if rb.Value.Required {
			return errors.New("the request body is required")
		}
		return nil
	}
	return c.schemas.check(described{at: refOr(rb.Ref, at), content: rb.Value.Content}, h.Get("Content-Type"), data)
}

// operationPointer is the JSON pointer of a routed operation.
func operationPointer(r *routers.Route) string {
	return "/paths/" + escapePointer(r.Path) + "/" + strings.ToLower(r.Method)
}

// checkResponse validates the answer to a routed request. A JSON body is
// validated here, with the compiled schemas; openapi3filter checks the
// status, the headers and any other body.
func (c *Checker) checkResponse(ctx context.Context, in *openapi3filter.RequestValidationInput, x Exchange) error {
	jsonBody := isJSON(x.Header.Get("Content-Type"))
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: x.Status, Header: x.Header,
		Options: &openapi3filter.Options{MultiError: true, IncludeResponseStatus: true, ExcludeResponseBody: jsonBody},
	}
	out.SetBodyBytes(x.Body)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return err
	}
	responses := in.Route.Operation.Responses
	r := responses.Status(x.Status)
	if r == nil {
		r = responses.Default()
	}
	switch {
	case r == nil:
		return nil
	case len(r.Value.Content) == 0 && len(x.Body) > 0:
		return fmt.Errorf("a body of %d bytes where the document describes none", len(x.Body))
	case len(r.Value.Content) == 0 || !jsonBody:
		return nil
	}
	at := ""
	for key, v := range responses.Map() {
		if v == r {
			at = operationPointer(in.Route) + "/responses/" + escapePointer(key)
		}
	}
	return c.schemas.check(described{at: refOr(r.Ref, at), content: r.Value.Content}, x.Header.Get("Content-Type"), x.Body)
}

// checkUnrouted validates the answer to a request no operation takes
// against the document's x-unrouted-responses for status.
func (c *Checker) checkUnrouted(ctx context.Context, req *http.Request, status int, x Exchange) error {
	if x.Status != status {
		return fmt.Errorf("no operation takes this request, so the answer must be %d, not %d", status, x.Status)
	}
	r := c.unrouted[status]
	if r == nil {
		return fmt.Errorf("no operation takes this request and x-unrouted-responses has no %d", status)
	}
	op := &openapi3.Operation{Responses: openapi3.NewResponses(openapi3.WithStatus(status, r))}
	in := &openapi3filter.RequestValidationInput{Request: req, Route: &routers.Route{
		Spec: c.doc, Path: req.URL.Path, Method: req.Method, Operation: op,
	}}
	return c.checkResponse(ctx, in, x)
}

// signedContent is what a request's webhook-signature covers, as the
// document says: the body of a POST, the path as sent of a GET.
func signedContent(x Exchange) []byte {
	if x.Request.Method == http.MethodGet || x.Request.Method == http.MethodHead {
		return []byte(x.Request.URL.EscapedPath())
	}
	return x.RequestBody
}

func readCloser(b []byte) *body { return &body{Reader: bytes.NewReader(b)} }

// body is a request or response body read back from memory.
type body struct{ *bytes.Reader }

// Close implements io.Closer.
func (*body) Close() error { return nil }
