package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/ensnodepool/webhook/api"
	"github.com/ensnodepool/webhook/api/spec"
)

// The lint: the document loads and validates as OpenAPI 3.1 with
// kin-openapi, every $ref resolves, every example matches its schema, and
// every component is used. kin-openapi (v0.153.0) validates 3.1 documents
// with a JSON Schema 2020-12 validator (santhosh-tekuri/jsonschema/v6):
// const, if/then/else, contains, $ref with sibling keywords, type arrays,
// webhooks and jsonSchemaDialect are understood. The checks below do not
// rely on its defaults: they walk the document themselves.

// loadDoc returns the parsed document, shared by the tests (which only
// read it).
func loadDoc(tb testing.TB) *openapi3.T {
	tb.Helper()
	doc, err := sharedDoc()
	if err != nil {
		tb.Fatal(err)
	}
	return doc
}

var sharedDoc = sync.OnceValues(func() (*openapi3.T, error) { return spec.Load(context.Background()) })

// rawDoc is the document as plain JSON values, for checks that must see it
// as written (before kin-openapi resolves references).
func rawDoc(tb testing.TB) map[string]any {
	tb.Helper()
	b, err := api.JSON()
	if err != nil {
		tb.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		tb.Fatal(err)
	}
	return m
}

func TestDocumentValidates(t *testing.T) {
	t.Parallel()
	doc := loadDoc(t)
	if !doc.IsOpenAPI31OrLater() || doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	err := doc.Validate(context.Background(), openapi3.EnableMultiError(),
		openapi3.EnableExamplesValidation(), openapi3.EnableSchemaPatternValidation(), openapi3.EnableSchemaDefaultsValidation())
	if err != nil {
		t.Fatal(err)
	}
}

// walkRefs calls visit for every "$ref" in node, with the JSON pointer of
// the object that holds it.
func walkRefs(node any, at string, visit func(ref, at string)) {
	switch n := node.(type) {
	case map[string]any:
		if ref, ok := n["$ref"].(string); ok {
			visit(ref, at)
		}
		for k, v := range n {
			walkRefs(v, at+"/"+escapePointer(k), visit)
		}
	case []any:
		for i, v := range n {
			walkRefs(v, fmt.Sprintf("%s/%d", at, i), visit)
		}
	}
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// resolve follows a local reference ("#/a/b~1c") in root (RFC 6901).
func resolve(root any, ref string) (any, error) {
	ptr, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("%q is not a reference within the document", ref)
	}
	cur := root
	for _, tok := range strings.Split(ptr, "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			var ok bool
			if cur, ok = c[tok]; !ok {
				return nil, fmt.Errorf("%q: no member %q", ref, tok)
			}
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, fmt.Errorf("%q: no item %q", ref, tok)
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("%q: %q is not inside an object or array", ref, tok)
		}
	}
	return cur, nil
}

// TestRefsResolve: every $ref points inside the document at something that
// exists, and every component is referenced at least once (x-unrouted-
// responses counts: it names the answers to requests no operation takes).
func TestRefsResolve(t *testing.T) {
	t.Parallel()
	raw := rawDoc(t)
	used := map[string]bool{}
	n := 0
	walkRefs(raw, "#", func(ref, at string) {
		n++
		if _, err := resolve(raw, ref); err != nil {
			t.Errorf("%s: %v", at, err)
		}
		used[ref] = true
	})
	if n < 50 {
		t.Fatalf("found %d references; the walk is broken", n)
	}
	components, _ := raw["components"].(map[string]any)
	for kind, set := range components {
		for name := range set.(map[string]any) {
			ref := "#/components/" + kind + "/" + escapePointer(name)
			if !used[ref] && kind != "securitySchemes" { // schemes are used by name
				t.Errorf("%s is never referenced", ref)
			}
		}
	}
}

// TestSecuritySchemesUsed: every security scheme is named by a
// requirement, and every requirement names declared schemes.
func TestSecuritySchemesUsed(t *testing.T) {
	t.Parallel()
	doc := loadDoc(t)
	named := map[string]bool{}
	note := func(reqs *openapi3.SecurityRequirements) {
		if reqs == nil {
			return
		}
		for _, r := range *reqs {
			for name := range r {
				named[name] = true
				if doc.Components.SecuritySchemes[name] == nil {
					t.Errorf("security requirement names undeclared scheme %q", name)
				}
			}
		}
	}
	note(&doc.Security)
	for _, op := range operations(doc) {
		note(op.op.Security)
	}
	for name := range doc.Components.SecuritySchemes {
		if !named[name] {
			t.Errorf("security scheme %q is never required", name)
		}
	}
}

// operation is one operation of the document, under paths or webhooks.
type operation struct {
	where  string // "POST /v1/nodepools" or "webhook nodepool.active"
	path   string // "" for webhooks
	method string
	item   *openapi3.PathItem
	op     *openapi3.Operation
}

func operations(doc *openapi3.T) []operation {
	var out []operation
	for _, p := range doc.Paths.InMatchingOrder() {
		item := doc.Paths.Value(p)
		for method, op := range item.Operations() {
			out = append(out, operation{where: method + " " + p, path: p, method: method, item: item, op: op})
		}
	}
	for name, item := range doc.Webhooks {
		for method, op := range item.Operations() {
			out = append(out, operation{where: "webhook " + name, method: method, item: item, op: op})
		}
	}
	slices.SortFunc(out, func(a, b operation) int { return strings.Compare(a.where, b.where) })
	return out
}

// example is one example value and the schema it must match.
type example struct {
	where  string
	schema *openapi3.Schema
	value  any
}

// examples collects every example of the document: of media types (example
// and examples), parameters, headers and schemas (3.1 examples).
func examples(doc *openapi3.T) []example {
	var out []example
	media := func(where string, content openapi3.Content) {
		for mt, m := range content {
			if m.Schema == nil {
				continue
			}
			if m.Example != nil {
				out = append(out, example{where + " " + mt + " example", m.Schema.Value, m.Example})
			}
			for name, ex := range m.Examples {
				out = append(out, example{where + " " + mt + " examples." + name, m.Schema.Value, ex.Value.Value})
			}
		}
	}
	response := func(where string, r *openapi3.Response) {
		media(where, r.Content)
		for name, h := range r.Headers {
			if h.Value.Example != nil {
				out = append(out, example{where + " header " + name, h.Value.Schema.Value, h.Value.Example})
			}
		}
	}
	for _, o := range operations(doc) {
		if o.op.RequestBody != nil {
			media(o.where+" request", o.op.RequestBody.Value.Content)
		}
		for status, r := range o.op.Responses.Map() {
			response(o.where+" "+status, r.Value)
		}
		for _, p := range append(o.item.Parameters, o.op.Parameters...) {
			if p.Value.Example != nil {
				out = append(out, example{o.where + " parameter " + p.Value.Name, p.Value.Schema.Value, p.Value.Example})
			}
		}
	}
	for name, r := range doc.Components.Responses {
		response("response "+name, r.Value)
	}
	for name, s := range doc.Components.Schemas {
		for i, v := range s.Value.Examples {
			out = append(out, example{fmt.Sprintf("schema %s examples[%d]", name, i), s.Value, v})
		}
	}
	return out
}

func validateExample(ex example) error {
	return ex.schema.VisitJSON(ex.value, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors())
}

// TestExamplesMatchSchemas checks every example against its schema with
// the JSON Schema 2020-12 validator.
func TestExamplesMatchSchemas(t *testing.T) {
	t.Parallel()
	doc := loadDoc(t)
	exs := examples(doc)
	if len(exs) < 25 {
		t.Fatalf("found %d examples; the walk is broken", len(exs))
	}
	for _, ex := range exs {
		if err := validateExample(ex); err != nil {
			t.Errorf("%s: %v", ex.where, err)
		}
	}
}

// TestExampleCheckCatchesDrift: the example check fails for an example
// that breaks its schema (a request without ImageId, an event of the wrong
// type), so TestExamplesMatchSchemas cannot pass by checking nothing.
func TestExampleCheckCatchesDrift(t *testing.T) {
	t.Parallel()
	doc := loadDoc(t)
	body := doc.Paths.Value("/v1/nodepools").Post.RequestBody.Value.Content.Get("application/json")
	ex := clone(t, body.Examples["ensDocKeyPair"].Value.Value).(map[string]any)
	delete(ex["ScalingGroup"].(map[string]any), "ImageId")
	if err := validateExample(example{"", body.Schema.Value, ex}); err == nil {
		t.Error("a request without ScalingGroup.ImageId matches CreateNodePoolRequest")
	}
	hook := doc.Webhooks["nodepool.active"].Post.RequestBody.Value.Content.Get("application/json")
	ev := clone(t, hook.Example).(map[string]any)
	ev["type"] = "nodepool.failed"
	if err := validateExample(example{"", hook.Schema.Value, ev}); err == nil {
		t.Error("a nodepool.failed body matches the nodepool.active schema")
	}
}

func clone(tb testing.TB, v any) any {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		tb.Fatal(err)
	}
	return out
}

// TestRequiredAreDefined: in every schema that lists properties, each
// required member is one of them (a misspelt required name would make the
// schema unsatisfiable or silently weaker).
func TestRequiredAreDefined(t *testing.T) {
	t.Parallel()
	doc := loadDoc(t)
	seen := map[*openapi3.Schema]bool{}
	var walk func(where string, s *openapi3.SchemaRef)
	walk = func(where string, s *openapi3.SchemaRef) {
		if s == nil || s.Value == nil || seen[s.Value] {
			return
		}
		v := s.Value
		seen[v] = true
		if len(v.Properties) > 0 {
			for _, r := range v.Required {
				if _, ok := v.Properties[r]; !ok {
					t.Errorf("%s: required %q is not among its properties", where, r)
				}
			}
		}
		for name, p := range v.Properties {
			walk(where+"."+name, p)
		}
		for i, list := range []openapi3.SchemaRefs{v.AllOf, v.AnyOf, v.OneOf} {
			for j, sub := range list {
				walk(fmt.Sprintf("%s/%s[%d]", where, [...]string{"allOf", "anyOf", "oneOf"}[i], j), sub)
			}
		}
		walk(where+"[]", v.Items)
	}
	for name, s := range doc.Components.Schemas {
		walk(name, s)
	}
	if len(seen) < 40 {
		t.Fatalf("walked %d schemas; the walk is broken", len(seen))
	}
}
