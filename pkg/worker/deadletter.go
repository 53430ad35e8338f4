package worker

import (
	"strings"
	"time"

	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// DeadLetterVersion is the version of the DeadLetter record shape.
const DeadLetterVersion = 1

// KindRequest marks a DeadLetter written by the worker for a request that
// produced no node pool (callback.DeadLetter records are "callback",
// the poller's invalid tracking messages "tracking").
const KindRequest = "request"

// MaxDeadLetterBody bounds DeadLetter.Body so that the record, JSON-escaped,
// fits in one MNS message (64 KiB).
const MaxDeadLetterBody = 24 << 10

// DeadLetter is the dead-letter queue record of a request message that
// produced no node pool: undecodable, of an unknown version, invalid, in
// conflict with an existing pool, refused by the ENS API, or past its
// deadline. Body is the message as received with every password masked, so
// an operator can fix it and re-send it (envelopes carry passwords only
// sealed); a body that is not JSON is never kept in clear (BodyWithheld).
type DeadLetter struct {
	// Version is DeadLetterVersion.
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
	// (nodepool.RedactJSON), cut to MaxDeadLetterBody bytes; empty when
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

// newDeadLetter builds the record, redacting and bounding body: a body
// that is not JSON is withheld, sealed with s if s is not nil.
func newDeadLetter(code, reason string, it *item, body string, at time.Time, s *nodepool.Sealer) DeadLetter {
	dl := DeadLetter{
		Version: DeadLetterVersion, Kind: KindRequest, Reason: reason, Code: code,
		MessageID: it.msg.MessageID, RequestId: it.out.RequestId, ClusterId: it.out.ClusterId, Name: it.out.Name,
		At: at.UTC(), BodySize: len(body),
	}
	if out, ok := nodepool.RedactJSON([]byte(body)); ok {
		dl.Body = string(out)
		if len(dl.Body) > MaxDeadLetterBody {
			dl.Body, dl.Truncated = strings.ToValidUTF8(dl.Body[:MaxDeadLetterBody], ""), true
		}
		return dl
	}
	dl.BodyWithheld = true
	if s != nil {
		if len(body) > MaxDeadLetterBody {
			body, dl.Truncated = body[:MaxDeadLetterBody], true
		}
		if sealed, err := s.Seal(body); err == nil {
			dl.BodySealed = sealed
		}
	}
	return dl
}
