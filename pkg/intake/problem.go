package intake

import (
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"strconv"

	"github.com/ensnodepool/webhook/pkg/admission"
	"github.com/ensnodepool/webhook/pkg/caller"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// Code classifies an error at the HTTP edge.
type Code string

// The codes this handler answers with. Each maps to exactly one HTTP
// status in codeStatus; the codes of pkg/admission's refusals are among
// them, by the same names.
const (
	CodeInvalid          = Code(admission.CodeInvalid)         // 400
	CodeUnauthorized     = Code("unauthorized")                // 401
	CodeForbidden        = Code(admission.CodeForbidden)       // 403
	CodeNotFound         = Code("not_found")                   // 404
	CodeMethodNotAllowed = Code("method_not_allowed")          // 405
	CodeTooLarge         = Code("body_too_large")              // 413
	CodeKeyReused        = Code(admission.CodeKeyReused)       // 422
	CodeClusterNotFound  = Code(admission.CodeClusterNotFound) // 422 (dry run)
	CodeUnsupportedMedia = Code("unsupported_media_type")      // 415
	CodeUnavailable      = Code(admission.CodeUnavailable)     // 503
	CodeInternal         = Code("internal")                    // 500
)

// codeStatus is the one table from codes to HTTP statuses.
var codeStatus = map[Code]int{
	CodeInvalid:          http.StatusBadRequest,
	CodeUnauthorized:     http.StatusUnauthorized,
	CodeForbidden:        http.StatusForbidden,
	CodeNotFound:         http.StatusNotFound,
	CodeMethodNotAllowed: http.StatusMethodNotAllowed,
	CodeTooLarge:         http.StatusRequestEntityTooLarge,
	CodeKeyReused:        http.StatusUnprocessableEntity,
	CodeClusterNotFound:  http.StatusUnprocessableEntity,
	CodeUnsupportedMedia: http.StatusUnsupportedMediaType,
	CodeUnavailable:      http.StatusServiceUnavailable,
	CodeInternal:         http.StatusInternalServerError,
}

// Statuses returns every Code with the HTTP status it is answered with (a
// copy of the one table), for tests and documents that must agree with it.
func Statuses() map[Code]int { return maps.Clone(codeStatus) }

// ErrNotFound marks a missing resource; ErrorCode maps it to CodeNotFound
// (404). The status endpoint answers 404 for a PoolReader error matching
// ens.ErrNotFound.
var ErrNotFound = errors.New("intake: not found")

// ErrUnavailable is what a Sender or PoolReader may return (errors.Is) for
// a temporary failure; any other error of theirs is treated the same way
// for the queue (503) and as unavailable for status reads.
var ErrUnavailable = errors.New("intake: dependency unavailable")

// Error is an error with a Code and a caller-safe message. Err, the cause,
// is logged but never sent.
type Error struct {
	Code    Code
	Message string                // safe to show the caller
	Fields  []nodepool.FieldError // for CodeInvalid
	Err     error                 // cause, for logs
}

// Error implements error.
func (e *Error) Error() string {
	if e.Err != nil {
		return string(e.Code) + ": " + e.Message + ": " + e.Err.Error()
	}
	return string(e.Code) + ": " + e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// ErrorCode returns the Code of err: its *Error's, the code of an
// admission refusal (the same names), CodeInvalid for nodepool validation
// errors, CodeNotFound for ErrNotFound, CodeForbidden for a caller's
// denial, else CodeInternal.
func ErrorCode(err error) Code {
	var (
		e  *Error
		ae *admission.Error
	)
	switch {
	case errors.As(err, &e):
		return e.Code
	case errors.As(err, &ae):
		return Code(ae.Code)
	case errors.Is(err, nodepool.ErrInvalid):
		return CodeInvalid
	case errors.Is(err, ErrNotFound):
		return CodeNotFound
	case errors.Is(err, caller.ErrForbidden):
		return CodeForbidden
	}
	return CodeInternal
}

// problem is an RFC 9457 problem details body.
type problem struct {
	Type      string                `json:"type"`
	Title     string                `json:"title"`
	Status    int                   `json:"status"`
	Detail    string                `json:"detail,omitempty"`
	Code      Code                  `json:"code"`
	RequestId string                `json:"requestId,omitempty"`
	Errors    []nodepool.FieldError `json:"errors,omitempty"`
	Rule      string                `json:"rule,omitempty"`
}

// writeProblem answers err as application/problem+json. Internal errors get
// a generic detail; only *Error messages and field lists reach the caller.
func (h *Handler) writeProblem(w http.ResponseWriter, err error, requestID string) int {
	code := ErrorCode(err)
	status := codeStatus[code]
	p := problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Code: code, RequestId: requestID}
	var (
		e  *Error
		ae *admission.Error
		ve *nodepool.ValidationError
		de *caller.DeniedError
	)
	switch {
	case errors.As(err, &de):
		// The caller's own rule and field; nothing of any other caller.
		p.Detail, p.Rule = de.Error(), de.Rule
		p.Errors = []nodepool.FieldError{{Field: de.Field, Message: de.Message}}
	case errors.As(err, &e):
		p.Detail, p.Errors = e.Message, e.Fields
	case errors.As(err, &ve):
		p.Detail, p.Errors = "the request is invalid", ve.Fields
	case errors.As(err, &ae):
		p.Detail = ae.Message
		if ae.Field != "" {
			p.Errors = []nodepool.FieldError{{Field: ae.Field, Message: ae.Message}}
		}
	}
	if p.Detail == "" {
		p.Detail = http.StatusText(status)
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/problem+json")
	hdr.Set("Cache-Control", "no-store")
	switch code {
	case CodeUnavailable:
		hdr.Set("Retry-After", strconv.Itoa(int(h.cfg.RetryAfter.Seconds())))
	case CodeUnauthorized:
		hdr.Set("WWW-Authenticate", `Signature realm="webhook", scheme="standard-webhooks-v1"`)
	}
	w.WriteHeader(status)
	body, _ := json.Marshal(p)
	_, _ = w.Write(append(body, '\n'))
	return status
}
