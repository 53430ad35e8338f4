package admission

import "errors"

// Code classifies a refusal; each front door maps it to its answer (the
// JSON API to an HTTP status in pkg/intake/problem.go).
type Code string

// The codes of Admission's refusals.
const (
	// CodeInvalid: the request breaks the request rules (400).
	CodeInvalid Code = "invalid_request"
	// CodeForbidden: the request is outside its caller's policy (403).
	CodeForbidden Code = "forbidden"
	// CodeKeyReused: the RequestId (an Idempotency-Key or webhook-id)
	// already stands for another request body (422).
	CodeKeyReused Code = "idempotency_key_reused"
	// CodeUnavailable: the queue did not accept the request, or ENS did
	// not answer a dry run; nothing was accepted and a retry is safe (503).
	CodeUnavailable Code = "unavailable"
	// CodeClusterNotFound: a dry run found that ENS does not know the
	// request's cluster (422).
	CodeClusterNotFound Code = "cluster_not_found"
)

// Codes lists every Code, for front doors to check their mapping.
func Codes() []Code {
	return []Code{CodeInvalid, CodeForbidden, CodeKeyReused, CodeUnavailable, CodeClusterNotFound}
}

// Error is a refusal with its Code and a message safe to show the caller.
// Err, the cause, may be shown only through what errors.As finds in it
// (validation fields, the caller's rule); its text goes to logs.
type Error struct {
	Code    Code
	Message string
	// Field is the JSON path of the request field the refusal is about
	// (CodeClusterNotFound: "ClusterId"), when it is about one the cause
	// does not name.
	Field string
	Err   error
}

// Error implements error: "<code>: <message>[: <cause>]".
func (e *Error) Error() string {
	if e.Err != nil {
		return string(e.Code) + ": " + e.Message + ": " + e.Err.Error()
	}
	return string(e.Code) + ": " + e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// CodeOf returns the Code of the *Error in err's chain, or "" when there
// is none (nil, or a fault of this service).
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
