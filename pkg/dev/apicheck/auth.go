package apicheck

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/getkin/kin-openapi/openapi3filter"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// headerForms are the forms the document's security schemes describe for
// their headers (by header name, lower case). A scheme whose header is not
// listed must only be present.
var headerForms = map[string]*regexp.Regexp{
	"webhook-id":                regexp.MustCompile(`^[\x21-\x7e]{1,256}$`),
	"webhook-timestamp":         regexp.MustCompile(`^(0|[1-9][0-9]*)$`),
	"webhook-signature":         regexp.MustCompile(`^v1,[A-Za-z0-9+/]{43}=( v1,[A-Za-z0-9+/]{43}=)*$`),
	"x-slack-signature":         regexp.MustCompile(`^v0=[0-9a-f]{64}$`),
	"x-slack-request-timestamp": regexp.MustCompile(`^[0-9]+$`),
	"sign":                      regexp.MustCompile(`^[A-Za-z0-9+/]{43}=$`),
	"timestamp":                 regexp.MustCompile(`^[0-9]+$`),
	"x-lark-signature":          regexp.MustCompile(`^[0-9a-f]{64}$`),
	"x-lark-request-timestamp":  regexp.MustCompile(`^[0-9]+$`),
}

// authenticator returns the openapi3filter authentication function: every
// header a required scheme names is present, once, in its documented
// form, and with secrets the Standard Webhooks signature over content
// verifies with one of them.
func authenticator(secrets []string, content []byte) openapi3filter.AuthenticationFunc {
	return func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
		s := in.SecurityScheme
		if s.Type != "apiKey" || s.In != "header" {
			return in.NewError(fmt.Errorf("apicheck knows only header apiKey schemes, not %s in %s", s.Type, s.In))
		}
		h := in.RequestValidationInput.Request.Header
		values := h.Values(s.Name)
		switch {
		case len(values) == 0:
			return in.NewError(fmt.Errorf("header %s is missing", s.Name))
		case len(values) > 1:
			return in.NewError(fmt.Errorf("header %s is repeated", s.Name))
		}
		if re := headerForms[strings.ToLower(s.Name)]; re != nil && !re.MatchString(values[0]) {
			return in.NewError(fmt.Errorf("header %s is not of the documented form", s.Name))
		}
		if strings.EqualFold(s.Name, "webhook-signature") && len(secrets) > 0 {
			if err := verify(secrets, h, content); err != nil {
				return in.NewError(err)
			}
		}
		return nil
	}
}

// verify checks a Standard Webhooks signature over content with the
// reference library, ignoring the timestamp window.
func verify(secrets []string, h http.Header, content []byte) error {
	for _, s := range secrets {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			return fmt.Errorf("a configured secret: %w", err)
		}
		if wh.VerifyIgnoringTimestamp(content, h) == nil {
			return nil
		}
	}
	return errors.New("webhook-signature does not verify over the documented content with any configured secret")
}
