package deadletter

import (
	"strings"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// The record shapes the functions write to the dead-letter queue. This
// package owns them: the worker writes RequestRecord and CallbackRecord,
// the poller CallbackRecord and TrackingRecord, and Parse reads them all.

// Version is the version of every record shape below; a change to any of
// them bumps it.
const Version = 1

// Record kinds: the Kind field of the records the functions write.
const (
	// KindRequest is a request that produced no node pool (RequestRecord).
	KindRequest = "request"
	// KindCallback is an undeliverable callback (CallbackRecord).
	KindCallback = "callback"
	// KindTracking is an unreadable tracking message (TrackingRecord).
	KindTracking = "tracking"
)

// ReasonInvalid is the Reason of a TrackingRecord.
const ReasonInvalid = "invalid"

// MaxBody bounds RequestRecord.Body so that the record, JSON-escaped, fits
// in one MNS message (64 KiB).
const MaxBody = 24 << 10

// RequestRecord is the record of a request message that produced no node
// pool: undecodable, of an unknown version, invalid, in conflict with an
// existing pool, refused by the ENS API, or past its deadline. Body is the
// message as received with every password masked, so an operator can fix
// it and re-send it (envelopes carry passwords only sealed); a body that
// is not JSON is never kept in clear (BodyWithheld).
type RequestRecord struct {
	// Version is Version.
	Version int
	// Kind is KindRequest.
	Kind string
	// Reason says why, in words (never containing a password).
	Reason string
	// Code is the machine-readable reason: the ENS API's error code or
	// one of callback.Codes.
	Code string
	// MessageID is the MNS message id, when known.
	MessageID string `json:",omitempty"`
	// RequestId, ClusterId and Name identify the request, when known.
	RequestId string `json:",omitempty"`
	ClusterId string `json:",omitempty"`
	Name      string `json:",omitempty"`
	// At is when the worker gave up on the message.
	At time.Time
	// Body is the message body with every password member masked
	// (nodepool.RedactJSON), cut to MaxBody bytes; empty when
	// BodyWithheld.
	Body string
	// Truncated reports that Body (or what BodySealed holds) was cut.
	Truncated bool `json:",omitempty"`
	// BodySize is the size in bytes of the body as received.
	BodySize int
	// BodyWithheld reports that the body could not be parsed as JSON, so
	// a password in it could not be found and masked: it is not kept in
	// clear. BodySealed then holds it sealed with the worker's sealing
	// key (SEAL_KEYS, like a password: open it with nodepool.Sealer.Open),
	// or nothing when the worker has none.
	BodyWithheld bool `json:",omitempty"`
	// BodySealed is the withheld body, sealed; see BodyWithheld.
	BodySealed string `json:",omitempty"`
}

// NewRequestRecord returns rec (its Reason, Code and identifiers set by
// the caller) as written: Version, Kind and At in UTC set, and body
// redacted and bounded into Body — or, when body is not JSON, withheld and
// sealed with s (kept nowhere when s is nil).
func NewRequestRecord(rec RequestRecord, body string, s *nodepool.Sealer) RequestRecord {
	rec.Version, rec.Kind, rec.At, rec.BodySize = Version, KindRequest, rec.At.UTC(), len(body)
	if out, ok := nodepool.RedactJSON([]byte(body)); ok {
		rec.Body = string(out)
		if len(rec.Body) > MaxBody {
			rec.Body, rec.Truncated = strings.ToValidUTF8(rec.Body[:MaxBody], ""), true
		}
		return rec
	}
	rec.BodyWithheld = true
	if s != nil {
		if len(body) > MaxBody {
			body, rec.Truncated = body[:MaxBody], true
		}
		if sealed, err := s.Seal(body); err == nil {
			rec.BodySealed = sealed
		}
	}
	return rec
}

// CallbackRecord is the record of an undeliverable callback: the whole
// Delivery (event and full attempt history) and why it ended.
type CallbackRecord struct {
	// Version is Version.
	Version int
	// Kind is KindCallback.
	Kind string
	// Reason is the terminal state: gone, refused or exhausted.
	Reason callback.State
	// At is when the delivery was given up.
	At time.Time
	// Delivery is the event with its attempt history.
	Delivery callback.Delivery
}

// NewCallbackRecord returns the record of the undeliverable delivery d
// (d.Undeliverable()) at now; the record holds a copy of d.
func NewCallbackRecord(d *callback.Delivery, now time.Time) CallbackRecord {
	c := *d
	c.Attempts = append([]callback.Attempt(nil), d.Attempts...)
	return CallbackRecord{Version: Version, Kind: KindCallback, Reason: d.State, At: now, Delivery: c}
}

// TrackingRecord is the record of a tracking message that could not be
// parsed. It shares Version, Reason and At with CallbackRecord; Reason is
// always ReasonInvalid.
type TrackingRecord struct {
	// Version is Version.
	Version int
	// Kind is KindTracking.
	Kind string
	// Reason is ReasonInvalid.
	Reason string
	// At is when the message was rejected.
	At time.Time
	// MessageID is the MNS message id of the rejected message.
	MessageID string
	// Error says why it could not be parsed.
	Error string
	// Body is the message body with every password member masked
	// (nodepool.RedactJSON; tracking messages carry none, but a producer
	// may break the contract); empty when BodyWithheld.
	Body string
	// BodySize is the size in bytes of the body as received.
	BodySize int
	// BodyWithheld reports that the body is not JSON, so a password in it
	// could not be found and masked: it is not kept at all.
	BodyWithheld bool `json:",omitempty"`
}

// NewTrackingRecord returns the record of the tracking message messageID
// whose body failed to parse with perr, rejected at at.
func NewTrackingRecord(messageID string, perr error, body string, at time.Time) TrackingRecord {
	rec := TrackingRecord{Version: Version, Kind: KindTracking, Reason: ReasonInvalid, At: at,
		MessageID: messageID, Error: perr.Error(), BodySize: len(body)}
	if out, ok := nodepool.RedactJSON([]byte(body)); ok {
		rec.Body = string(out)
	} else {
		rec.BodyWithheld = true
	}
	return rec
}
