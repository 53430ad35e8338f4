package ens

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors classify API and transport failures; test them with
// errors.Is. An *APIError unwraps to at most one of them.
var (
	// ErrNotFound: the cluster, node pool or another named resource does not
	// exist (codes ending in ".NotFound", HTTP 404).
	ErrNotFound = errors.New("ens: not found")
	// ErrInvalid: the request was rejected as malformed (MissingParameter,
	// InvalidParameter*, BadRequest and other 4xx codes). Permanent.
	ErrInvalid = errors.New("ens: invalid request")
	// ErrUnauthorized: the credentials or the signature were refused
	// (InvalidAccessKeyId*, SignatureDoesNotMatch, Forbidden*, NoPermission).
	ErrUnauthorized = errors.New("ens: unauthorized")
	// ErrThrottled: the API answered Throttling, Throttling.User or
	// Throttling.Api and retries did not get through in time.
	ErrThrottled = errors.New("ens: throttled")
	// ErrUnavailable: 5xx, ServiceUnavailable, a transport error, a timeout
	// or an unreadable response, and retries did not get through in time.
	ErrUnavailable = errors.New("ens: unavailable")
)

// ErrConfig reports an invalid Config (New) or credentials without an
// AccessKey pair (WithCredentials); it is not a code of an API error.
var ErrConfig = errors.New("ens: invalid configuration")

// APIError is an error answered by the ENS API (HTTP 4xx or 5xx with a JSON
// error body). Permanent errors (most 4xx) are returned after one attempt;
// retryable ones (throttling, 5xx) only once retries are exhausted.
type APIError struct {
	Action     string // API action, e.g. "CreateClusterNodePool"
	Code       string // API error code, e.g. "InvalidParameter.SystemDiskSize"
	Message    string // API error message
	RequestID  string // RequestId of the failed call
	HTTPStatus int    // HTTP status code
	// RetryAfter is the TimeLeft announced by x-ratelimit headers on
	// throttling errors (0 when absent).
	RetryAfter time.Duration
}

// Error implements error.
func (e *APIError) Error() string {
	return fmt.Sprintf("ens: %s: %s (HTTP %d, RequestId %s): %s", e.Action, e.Code, e.HTTPStatus, e.RequestID, e.Message)
}

// Unwrap returns the sentinel (ErrNotFound, ErrInvalid, ...) that classifies
// the error, or nil.
func (e *APIError) Unwrap() error {
	switch {
	case isThrottlingCode(e.Code):
		return ErrThrottled
	case e.Code == "ServiceUnavailable" || e.HTTPStatus >= 500:
		return ErrUnavailable
	case strings.HasPrefix(e.Code, "InvalidAccessKeyId"), strings.HasPrefix(e.Code, "SignatureDoesNotMatch"),
		strings.HasPrefix(e.Code, "Forbidden"), e.Code == "NoPermission", e.Code == "IncompleteSignature",
		e.HTTPStatus == 401, e.HTTPStatus == 403:
		return ErrUnauthorized
	case strings.HasSuffix(e.Code, ".NotFound"), e.HTTPStatus == 404:
		return ErrNotFound
	case e.HTTPStatus >= 400:
		return ErrInvalid
	}
	return nil
}

func isThrottlingCode(code string) bool {
	return code == "Throttling" || code == "Throttling.User" || code == "Throttling.Api"
}

// transportError is a failure below the API: connection refused or reset, a
// timeout, an unreadable response. It is always retryable.
type transportError struct {
	action string
	err    error
}

func (e *transportError) Error() string {
	return fmt.Sprintf("ens: %s: %v", e.action, e.err)
}

func (e *transportError) Unwrap() []error { return []error{ErrUnavailable, e.err} }

// ErrOutcomeUnknown is matched by the error of a call that is not
// idempotent (CreateClusterNodePool) and failed in a way that does not
// prove it had no effect: a 5xx, a timeout, a connection broken after the
// request went out. The client does not retry such a call; the caller
// looks (DescribeClusterNodePools) before trying again. It stays
// retryable (IsRetryable) and keeps its cause in the chain.
var ErrOutcomeUnknown = errors.New("ens: outcome unknown")

// outcomeUnknownError marks err as ErrOutcomeUnknown.
type outcomeUnknownError struct{ err error }

func (e *outcomeUnknownError) Error() string {
	return e.err.Error() + " (the call may have taken effect)"
}

func (e *outcomeUnknownError) Unwrap() []error { return []error{ErrOutcomeUnknown, e.err} }

// AsAPIError returns the *APIError in err's chain, if any.
func AsAPIError(err error) (*APIError, bool) {
	var ae *APIError
	ok := errors.As(err, &ae)
	return ae, ok
}

// IsRetryable reports whether err is worth retrying: throttling, 5xx,
// ServiceUnavailable and transport errors are; context errors and other API
// errors are not.
func IsRetryable(err error) bool {
	var te *transportError
	switch {
	case err == nil:
		return false
	case errors.As(err, &te):
		// Also when it wraps an http.Client timeout, which matches
		// context.DeadlineExceeded although the caller's context is live.
		return true
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	}
	return errors.Is(err, ErrThrottled) || errors.Is(err, ErrUnavailable)
}
