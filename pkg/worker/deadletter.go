package worker

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
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
// deadline. Body is the message as received with any password masked, so an
// operator can fix it and re-send it (envelopes carry passwords only sealed).
type DeadLetter struct {
	// Version is DeadLetterVersion.
	Version int
	// Kind is KindRequest.
	Kind string
	// Reason says why, in words (never containing a password).
	Reason string
	// Code is the machine-readable reason: the ENS API's error code,
	// "Conflict", "InvalidRequest", "UnsupportedVersion", "Undecodable",
	// "DeadlineExceeded".
	Code string
	// MessageID is the MNS message id, when known.
	MessageID string `json:",omitempty"`
	// RequestId, ClusterId and Name identify the request, when known.
	RequestId string `json:",omitempty"`
	ClusterId string `json:",omitempty"`
	Name      string `json:",omitempty"`
	// At is when the worker gave up on the message.
	At time.Time
	// Body is the message body with passwords masked (Redact), cut to
	// MaxDeadLetterBody bytes.
	Body string
	// Truncated reports that Body was cut.
	Truncated bool `json:",omitempty"`
}

// newDeadLetter builds the record, redacting and bounding body.
func newDeadLetter(code, reason string, it *item, body string, at time.Time) DeadLetter {
	dl := DeadLetter{
		Version: DeadLetterVersion, Kind: KindRequest, Reason: reason, Code: code,
		MessageID: it.msg.MessageID, RequestId: it.out.RequestId, ClusterId: it.out.ClusterId, Name: it.out.Name,
		At: at.UTC(), Body: Redact(body),
	}
	if len(dl.Body) > MaxDeadLetterBody {
		dl.Body, dl.Truncated = strings.ToValidUTF8(dl.Body[:MaxDeadLetterBody], ""), true
	}
	return dl
}

// reKV finds "password": value pairs in text that is not valid JSON (and in
// JSON strings escaped once, \"Password\":\"…\"), case-insensitively.
var reKV = regexp.MustCompile(`(?i)("password"\s*:\s*)("(?:[^"\\]|\\.)*"|[^\s,}\]]+)|(\\"password\\"\s*:\s*)(\\"(?:[^\\]|\\[^"])*\\"|[^\s,}\]\\]+)`)

// Redact returns body with the value of every member named "password" (any
// case, at any depth, also inside JSON strings that hold JSON) replaced by
// nodepool.Mask. Valid JSON is rewritten compactly with members in their
// original order; anything else is masked by pattern.
func Redact(body string) string {
	if out, err := redactJSON([]byte(body), 0); err == nil {
		return string(out)
	}
	return reKV.ReplaceAllStringFunc(body, func(m string) string {
		sub := reKV.FindStringSubmatch(m)
		if sub[1] != "" {
			return sub[1] + `"` + nodepool.Mask + `"`
		}
		return sub[3] + `\"` + nodepool.Mask + `\"`
	})
}

const maxRedactDepth = 32

var errDepth = errors.New("worker: JSON nested too deeply")

// redactJSON re-encodes one JSON value, masking password members.
func redactJSON(data []byte, depth int) ([]byte, error) {
	if depth > 2 {
		return nil, errDepth // JSON in a string in a string in a string: stop
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var b bytes.Buffer
	if err := redactValue(dec, &b, depth, 0); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("worker: trailing data")
	}
	return b.Bytes(), nil
}

func redactValue(dec *json.Decoder, b *bytes.Buffer, strDepth, depth int) error {
	if depth > maxRedactDepth {
		return errDepth
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			b.WriteByte('{')
			for i := 0; dec.More(); i++ {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				key, _ := k.(string)
				if i > 0 {
					b.WriteByte(',')
				}
				writeString(b, key)
				b.WriteByte(':')
				if strings.EqualFold(key, "password") {
					var skip json.RawMessage
					if err := dec.Decode(&skip); err != nil {
						return err
					}
					writeString(b, nodepool.Mask)
					continue
				}
				if err := redactValue(dec, b, strDepth, depth+1); err != nil {
					return err
				}
			}
			b.WriteByte('}')
		case '[':
			b.WriteByte('[')
			for i := 0; dec.More(); i++ {
				if i > 0 {
					b.WriteByte(',')
				}
				if err := redactValue(dec, b, strDepth, depth+1); err != nil {
					return err
				}
			}
			b.WriteByte(']')
		}
		_, err := dec.Token() // the closing delimiter
		return err
	case string:
		if s := strings.TrimSpace(t); len(s) > 1 && (s[0] == '{' || s[0] == '[') {
			if inner, err := redactJSON([]byte(s), strDepth+1); err == nil {
				t = string(inner)
			}
		}
		writeString(b, t)
	case json.Number:
		b.WriteString(t.String())
	case bool:
		if t {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case nil:
		b.WriteString("null")
	}
	return nil
}

func writeString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s) // a string always marshals
	b.Write(enc)
}
