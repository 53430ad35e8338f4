package ledger

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
)

// Sentinel errors; test them with errors.Is. The edge maps them to
// statuses: ErrNotFound 404, ErrInvalid 400, ErrKeyReused 422, ErrInProgress
// 409, ErrQuota 429, ErrUnavailable 503 (with Retry-After), ErrClaimed 409.
var (
	// ErrNotFound: no record with that RequestId.
	ErrNotFound = errors.New("ledger: not found")
	// ErrInvalid: an argument is malformed (a page token that this package
	// did not issue, a bad limit or state filter, a bad RequestId).
	ErrInvalid = errors.New("ledger: invalid argument")
	// ErrKeyReused: the Idempotency-Key was reserved for another body;
	// matched by *KeyReusedError, which carries the first RequestId.
	ErrKeyReused = errors.New("ledger: idempotency key reused with another body")
	// ErrInProgress: another instance holds the reservation of the same
	// key and body and has not queued the request yet; retry after
	// *InProgressError.RetryAfter.
	ErrInProgress = errors.New("ledger: a request with this idempotency key is in progress")
	// ErrQuota: a caller quota refuses the request; matched by *QuotaError.
	ErrQuota = errors.New("ledger: quota exceeded")
	// ErrClaimed: the RequestId's record belongs to another caller or to a
	// request with another body.
	ErrClaimed = errors.New("ledger: request id claimed by another request")
	// ErrUnavailable: the store could not be reached or refused for a
	// reason that is not the request's fault (throttling, 5xx, timeouts,
	// connection errors, credentials, a missing table); matched by
	// *StoreError. Nothing was reserved or recorded for sure.
	ErrUnavailable = errors.New("ledger: store unavailable")
)

// KeyReusedError is returned by Reserve when the key is reserved for a
// request with another body.
type KeyReusedError struct {
	// RequestId is the request the key was first reserved for.
	RequestId string
}

// Error implements error.
func (e *KeyReusedError) Error() string {
	return "ledger: idempotency key reused with another body (first request " + e.RequestId + ")"
}

// Is makes errors.Is(err, ErrKeyReused) true.
func (e *KeyReusedError) Is(target error) bool { return target == ErrKeyReused }

// InProgressError is returned by Reserve while another call holds the
// reservation of the same key and body.
type InProgressError struct {
	// RequestId is the request the key is reserved for.
	RequestId string
	// RetryAfter is when the holder's lease ends at the latest.
	RetryAfter time.Duration
}

// Error implements error.
func (e *InProgressError) Error() string {
	return "ledger: request " + e.RequestId + " with this idempotency key is in progress; retry after " + e.RetryAfter.String()
}

// Is makes errors.Is(err, ErrInProgress) true.
func (e *InProgressError) Is(target error) bool { return target == ErrInProgress }

// Quota names, as CALLERS spells them.
const (
	QuotaPerMinute = "MaxRequestsPerMinute"
	QuotaInFlight  = "MaxPoolsInFlight"
)

// QuotaError is returned by Quota when a caller's limit refuses a request.
type QuotaError struct {
	// Quota is QuotaPerMinute or QuotaInFlight.
	Quota string
	// Limit is the caller's limit.
	Limit int
	// RetryAfter is how long to wait before the quota can admit again.
	RetryAfter time.Duration
}

// Error implements error.
func (e *QuotaError) Error() string {
	return "ledger: " + e.Quota + " " + strconv.Itoa(e.Limit) + " reached; retry after " + e.RetryAfter.String()
}

// Is makes errors.Is(err, ErrQuota) true.
func (e *QuotaError) Is(target error) bool { return target == ErrQuota }

// StoreError is a failed store call. It matches ErrUnavailable unless the
// store refused the request itself as malformed (a bug here, not an outage).
type StoreError struct {
	// Op is the ledger operation, e.g. "reserve".
	Op string
	// Code is the Tablestore error code ("" for transport errors).
	Code string
	// Err is the SDK's error.
	Err error
}

// Error implements error.
func (e *StoreError) Error() string { return fmt.Sprintf("ledger: %s: %v", e.Op, e.Err) }

// Unwrap returns ErrUnavailable (unless the request was malformed) and the
// SDK's error (a *tablestore.OtsError for service errors).
func (e *StoreError) Unwrap() []error {
	switch e.Code {
	case "OTSParameterInvalid", "OTSInvalidPK", "OTSOutOfColumnCountLimit", "OTSOutOfRowSizeLimit", "OTSRequestBodyTooLarge":
		return []error{e.Err}
	}
	return []error{ErrUnavailable, e.Err}
}

// storeError wraps a failed SDK call.
func storeError(op string, err error) error {
	se := &StoreError{Op: op, Err: err}
	var oe *tablestore.OtsError
	if errors.As(err, &oe) {
		se.Code = oe.Code
	}
	return se
}

// Tablestore error codes the ledger reacts to.
const (
	codeConditionFailed = "OTSConditionCheckFail"
	codeNotExist        = "OTSObjectNotExist"
	codeAlreadyExist    = "OTSObjectAlreadyExist"
)

// hasCode reports whether err carries the Tablestore error code.
func hasCode(err error, code string) bool {
	var oe *tablestore.OtsError
	return errors.As(err, &oe) && oe.Code == code
}

// invalid returns an ErrInvalid error naming what is wrong.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}
