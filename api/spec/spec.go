// Package spec is the API document (package api) parsed with kin-openapi,
// for tools and tests that validate against it. Its user is
// pkg/dev/apicheck; it is kept apart from package api so the webhook, which
// serves the document, does not link kin-openapi
// (github.com/getkin/kin-openapi).
package spec

import (
	"context"
	"fmt"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/ensnodepool/webhook/api"
)

// Load parses the document and resolves its references. Each call returns
// a new *openapi3.T, which the caller may change. It does not validate the
// document (see (*openapi3.T).Validate); the tests of package api do.
func Load(ctx context.Context) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	loader.Context = ctx
	doc, err := loader.LoadFromData(api.YAML())
	if err != nil {
		return nil, fmt.Errorf("spec: load api/openapi.yaml: %w", err)
	}
	return doc, nil
}
