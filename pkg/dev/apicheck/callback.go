package apicheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// callbackID is the form of a callback's webhook-id the document states
// ("msg_" and 32 hex digits, stable across retries).
var callbackID = regexp.MustCompile(`^msg_[0-9a-f]{32}$`)

// CheckCallback validates a received callback, headers and body as
// received, against the webhook of its type: the Standard Webhooks
// headers (and signature, with Config.CallbackSecrets), the User-Agent
// and the body schema. It records a failure and returns it.
func (c *Checker) CheckCallback(ctx context.Context, h http.Header, body []byte) error {
	var head struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(body, &head)
	return c.record("callback "+head.Type, c.callback(ctx, head.Type, h, body))
}

func (c *Checker) callback(ctx context.Context, typ string, h http.Header, body []byte) error {
	item := c.doc.Webhooks[typ]
	if item == nil || item.Post == nil {
		return fmt.Errorf("no webhook for type %q", typ)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/", readCloser(body))
	if err != nil {
		return err
	}
	req.Header = h.Clone()
	in := &openapi3filter.RequestValidationInput{
		Request: req,
		Route:   &routers.Route{Spec: c.doc, Path: typ, PathItem: item, Method: http.MethodPost, Operation: item.Post},
		Options: &openapi3filter.Options{MultiError: true, ExcludeRequestBody: true,
			AuthenticationFunc: authenticator(c.cfg.CallbackSecrets, body)},
	}
	var errs []error
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
		errs = append(errs, err)
	}
	if rb := item.Post.RequestBody; rb != nil {
		errs = append(errs, c.requestBody(rb, "/webhooks/"+escapePointer(typ)+"/post/requestBody", h, body))
	}
	if id := h.Get("webhook-id"); !callbackID.MatchString(id) {
		errs = append(errs, errors.New(`webhook-id is not "msg_" and 32 hex digits`))
	}
	return errors.Join(errs...)
}
