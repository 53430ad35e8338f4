package apicheck

import (
	"bytes"
	"fmt"
	"mime"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/ensnodepool/webhook/api"
)

// schemas validates JSON bodies against the document's schemas, each
// compiled once per process. kin-openapi compiles a schema again on every
// validation (openapi3.Schema.VisitJSON with JSON Schema 2020-12), which
// costs milliseconds for the request schema's patterns; the checks here
// leave the bodies out of openapi3filter (Options.ExcludeRequestBody,
// ExcludeResponseBody) and validate them with the same validator,
// github.com/santhosh-tekuri/jsonschema/v6, compiled from the document as
// written: a body schema is compiled at its JSON pointer in the document,
// so its references resolve in the document itself.
type schemas struct {
	mu       sync.Mutex
	compiler *jsonschema.Compiler
	compiled map[string]*jsonschema.Schema // by JSON pointer
}

// documentURL names the document as a schema resource.
const documentURL = "urn:ensnodepool:openapi.json"

func newSchemas() (*schemas, error) {
	j, err := api.JSON()
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		return nil, fmt.Errorf("apicheck: the document as JSON: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat() // the formats JSON Schema defines (uri, date-time, …); others are annotations
	if err := c.AddResource(documentURL, doc); err != nil {
		return nil, fmt.Errorf("apicheck: the document as a schema resource: %w", err)
	}
	return &schemas{compiler: c, compiled: map[string]*jsonschema.Schema{}}, nil
}

// schema returns the schema at pointer (e.g.
// "/paths/~1v1~1nodepools/post/responses/202/content/application~1json/schema"),
// compiling it on first use.
func (s *schemas) schema(pointer string) (*jsonschema.Schema, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sch := s.compiled[pointer]; sch != nil {
		return sch, nil
	}
	sch, err := s.compiler.Compile(documentURL + "#" + pointer)
	if err != nil {
		return nil, fmt.Errorf("apicheck: compiling the schema at %s: %w", pointer, err)
	}
	s.compiled[pointer] = sch
	return sch, nil
}

// isJSON reports whether a Content-Type is JSON (application/json or
// application/*+json), the bodies validated here; others are left to
// openapi3filter.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// described is where a request or response body is described: the
// pointer of the object holding its "content" (a request body or response
// object, or the component it refers to) and that content.
type described struct {
	at      string
	content openapi3.Content
}

// check validates data, sent with contentType, against the content: its
// media type must be listed and, having a schema, data must match it.
func (s *schemas) check(b described, contentType string, data []byte) error {
	mt := b.content.Get(contentType)
	if mt == nil {
		return fmt.Errorf("content type %q is not documented here", contentType)
	}
	if mt.Schema == nil {
		return nil
	}
	key := ""
	for k, v := range b.content {
		if v == mt {
			key = k
		}
	}
	sch, err := s.schema(b.at + "/content/" + escapePointer(key) + "/schema")
	if err != nil {
		return err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("the body is not one JSON value: %w", err)
	}
	if err := sch.Validate(v); err != nil {
		return fmt.Errorf("the body does not match the schema: %w", err)
	}
	return nil
}

// escapePointer escapes one JSON pointer token (RFC 6901).
func escapePointer(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

// refOr is the pointer of a component a reference names ("#/components/…"),
// else at.
func refOr(ref, at string) string {
	if p, ok := strings.CutPrefix(ref, "#"); ok && ref != "" {
		return p
	}
	return at
}
