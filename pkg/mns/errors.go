package mns

import (
	"errors"
	"regexp"
	"strings"

	gerrors "github.com/gogap/errors"
)

// Sentinel error codes. Every error returned by this package matches at most one of them with
// errors.Is; callers never inspect error strings.
var (
	// ErrEmpty: no message was available (MNS MessageNotExist on receive). Receive turns it into
	// (nil, nil); it is exported for callers of lower-level paths and tests.
	ErrEmpty = errors.New("mns: empty")
	// ErrNotFound: the queue does not exist (QueueNotExist).
	ErrNotFound = errors.New("mns: not found")
	// ErrStaleReceipt: the receipt handle is no longer valid — the message was deleted, received
	// again, its visibility changed or timed out (MessageNotExist/ReceiptHandleError on
	// delete or change visibility).
	ErrStaleReceipt = errors.New("mns: stale receipt handle")
	// ErrThrottled: MNS refused the request for rate reasons (QpsLimitExceeded); retry later.
	ErrThrottled = errors.New("mns: throttled")
	// ErrUnavailable: the service could not be reached or failed (transport errors, 5xx,
	// InternalError, undecodable responses); retry later.
	ErrUnavailable = errors.New("mns: unavailable")
	// ErrInvalid: the request was rejected as malformed (InvalidArgument, MalformedXML, oversize
	// body, bad queue name, existing queue with other attributes ...); retrying will not help.
	ErrInvalid = errors.New("mns: invalid request")
	// ErrDenied: authentication or authorization failed (signature, AccessKey, expired date).
	ErrDenied = errors.New("mns: access denied")
	// ErrPartial: a batch operation failed for some entries; see *BatchError for which.
	ErrPartial = errors.New("mns: batch partially failed")
)

// ErrConfig reports an invalid Config (New); it is not a code of a request's error.
var ErrConfig = errors.New("mns: invalid configuration")

// Error is an MNS failure: Code is one of the sentinels above, MNSCode the MNS error code when the
// service sent one (e.g. "QueueNotExist"), Err the SDK error.
type Error struct {
	Op, Queue string
	Code      error
	MNSCode   string
	Err       error
}

func (e *Error) Error() string {
	s := "mns: " + e.Op
	if e.Queue != "" {
		s += " " + e.Queue
	}
	if e.MNSCode != "" {
		s += ": " + e.MNSCode
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap yields the sentinel code and the underlying SDK error.
func (e *Error) Unwrap() []error { return []error{e.Code, e.Err} }

// ItemError is one failed entry of a batch.
type ItemError struct {
	// Index is the entry's position in the caller's slice.
	Index int
	// Receipt is the receipt handle (DeleteBatch only).
	Receipt string
	// MNSCode and Message are what MNS reported for the entry.
	MNSCode, Message string
	// Code is the sentinel the entry maps to.
	Code error
}

// BatchError reports the failed entries of a partially failed batch. It matches ErrPartial and
// the sentinel of every failed entry.
type BatchError struct {
	Op, Queue string
	Items     []ItemError
}

func (e *BatchError) Error() string {
	var b strings.Builder
	b.WriteString("mns: " + e.Op + " " + e.Queue + ": batch partially failed:")
	for i, it := range e.Items {
		if i == 3 {
			b.WriteString(" ...")
			break
		}
		b.WriteString(" [" + it.MNSCode + "]")
	}
	return b.String()
}

// Unwrap yields ErrPartial and each distinct item code.
func (e *BatchError) Unwrap() []error {
	out := []error{ErrPartial}
	for _, it := range e.Items {
		if it.Code != nil && !errors.Is(errors.Join(out...), it.Code) {
			out = append(out, it.Code)
		}
	}
	return out
}

// sdkCodes maps the SDK's numeric error codes (aliyun-mns-go-sdk errors.go) to MNS code names.
var sdkCodes = map[uint64]string{
	100: "AccessDenied", 101: "InvalidAccessKeyId", 102: "InternalError", 103: "InvalidAuthorizationHeader",
	104: "InvalidDateHeader", 105: "InvalidArgument", 106: "InvalidDegist", 107: "InvalidRequestURL",
	108: "InvalidQueryString", 109: "MalformedXML", 110: "MissingAuthorizationHeader", 111: "MissingDateHeader",
	112: "MissingVersionHeader", 113: "MissingReceiptHandle", 114: "MissingVisibilityTimeout",
	115: "MessageNotExist", 116: "QueueAlreadyExist", 117: "QueueDeletedRecently", 118: "InvalidQueueName",
	119: "InvalidVersionHeader", 120: "InvalidContentType", 121: "QueueNameLengthError", 122: "QueueNotExist",
	123: "ReceiptHandleError", 124: "SignatureDoesNotMatch", 125: "TimeExpired", 134: "QpsLimitExceeded",
}

// codeMap maps MNS error codes to sentinels; codes not listed map to ErrInvalid for 4xx-like
// names and ErrUnavailable otherwise (see classify).
var codeMap = map[string]error{
	"MessageNotExist":            ErrEmpty,
	"QueueNotExist":              ErrNotFound,
	"ReceiptHandleError":         ErrStaleReceipt,
	"QpsLimitExceeded":           ErrThrottled,
	"InternalError":              ErrUnavailable,
	"InternalServerError":        ErrUnavailable,
	"ServiceUnavailable":         ErrUnavailable,
	"AccessDenied":               ErrDenied,
	"InvalidAccessKeyId":         ErrDenied,
	"SignatureDoesNotMatch":      ErrDenied,
	"TimeExpired":                ErrDenied,
	"MissingAuthorizationHeader": ErrDenied,
	"InvalidAuthorizationHeader": ErrDenied,
}

var codeInText = regexp.MustCompile(`code: ([A-Za-z]+)`)

// classify turns an SDK error into (sentinel, MNS code).
func classify(err error) (error, string) {
	var ec gerrors.ErrCode
	if errors.As(err, &ec) && ec.Namespace() == "MNS" {
		switch n := ec.Code(); {
		case n == 5 || n == 6 || n == 7 || n == 8:
			return ErrUnavailable, "" // transport failure or undecodable (non-MNS) response
		case n == 133:
			return nil, "QueueAlreadyExist" // same attributes: success
		case n == 136:
			return ErrPartial, ""
		case n == 135: // unknown code: recover it from the text
			code := ""
			if m := codeInText.FindStringSubmatch(err.Error()); m != nil {
				code = m[1]
			}
			if c, ok := codeMap[code]; ok {
				return c, code
			}
			return ErrUnavailable, code
		case n >= 100 && n < 200:
			code := sdkCodes[n]
			if c, ok := codeMap[code]; ok {
				return c, code
			}
			return ErrInvalid, code
		default:
			return ErrInvalid, "" // client-side validation (names, ranges, marshalling)
		}
	}
	return ErrUnavailable, ""
}
