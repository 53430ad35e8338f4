package fcadapter

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// QueueMessage is one MNS message delivered by an EventBridge MNS trigger.
//
// An element of the payload that cannot be decoded still yields a
// QueueMessage, with Err set (wrapping ErrUndecodable) and Raw holding the
// element as received, so the caller can dead-letter it with the reason.
// Never process a message whose Err is non-nil.
type QueueMessage struct {
	// Index is the element's position in the payload (0 for a single object).
	Index int
	// MessageID is data.messageId (the MNS message id); may be "" when Err is set.
	MessageID string
	// RequestID is data.requestId (the MNS request that received it).
	RequestID string
	// EventID is the CloudEvent id ("" for RawData elements).
	EventID string
	// Body is the message body, base64-decoded when Base64Decoded.
	Body string
	// Base64Decoded reports that the body arrived base64-encoded and was decoded.
	Base64Decoded bool
	// Raw is the element exactly as it appeared in the payload.
	Raw json.RawMessage
	// Err is non-nil when the element is undecodable.
	Err error
}

// Decoder decodes EventBridge MNS trigger payloads.
type Decoder struct {
	// TryBase64 makes the decoder accept base64 message bodies (a producer
	// that encodes, with IsBase64Decode: false on the trigger). A body is
	// treated as base64 only when it is not valid JSON itself, decodes as
	// strict standard base64, and the decoded bytes are valid JSON — so a
	// plain JSON body is never altered.
	TryBase64 bool
}

// Decode decodes payload with base64 detection on (Decoder{TryBase64: true}).
func Decode(payload []byte) ([]QueueMessage, error) {
	return Decoder{TryBase64: true}.Decode(payload)
}

// Decode accepts every shape the MNS trigger is documented to deliver
// (https://www.alibabacloud.com/help/en/functioncompute/fc/mns-queue-triggers):
//
//   - a single CloudEvent object (event-driven mode);
//   - an array of CloudEvents (event-streaming mode, even for one message);
//   - an array of JSON strings, each holding a CloudEvent or a RawData object;
//   - RawData elements {"requestId","messageId","messageBody"} (eventSchema RawData).
//
// It returns one QueueMessage per element, in order. The error is non-nil
// (wrapping ErrMalformedEvent) only when the payload as a whole is not one
// of these shapes; per-element failures are reported in QueueMessage.Err.
func (d Decoder) Decode(payload []byte) ([]QueueMessage, error) {
	payload = bytes.TrimSpace(payload)
	if len(payload) == 0 {
		return nil, fmt.Errorf("%w: empty payload", ErrMalformedEvent)
	}
	switch payload[0] {
	case '{', '"':
		if !json.Valid(payload) {
			return nil, fmt.Errorf("%w: payload is not valid JSON", ErrMalformedEvent)
		}
		return []QueueMessage{d.element(0, payload)}, nil
	case '[':
		var elems []json.RawMessage
		if err := json.Unmarshal(payload, &elems); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformedEvent, err)
		}
		msgs := make([]QueueMessage, len(elems))
		for i, e := range elems {
			msgs[i] = d.element(i, e)
		}
		return msgs, nil
	default:
		return nil, fmt.Errorf("%w: payload is neither an object nor an array", ErrMalformedEvent)
	}
}

// cloudEvent is the subset of an MNS CloudEvent we read (events.MnsQueueEvent
// in the SDK; its time fields would fail on non-RFC 3339 values, so they are
// not decoded here).
type cloudEvent struct {
	ID          *string         `json:"id"`
	Specversion *string         `json:"specversion"`
	Data        json.RawMessage `json:"data"`
	// RawData fields, present when the element is not a CloudEvent.
	rawData
}

type rawData struct {
	RequestID   *string `json:"requestId"`
	MessageID   *string `json:"messageId"`
	MessageBody *string `json:"messageBody"`
}

func (d Decoder) element(i int, raw json.RawMessage) QueueMessage {
	m := QueueMessage{Index: i, Raw: raw}
	if err := d.decodeElement(&m, raw, true); err != nil {
		m.Err = fmt.Errorf("%w: element %d: %v", ErrUndecodable, i, err)
	}
	return m
}

func (d Decoder) decodeElement(m *QueueMessage, raw []byte, allowString bool) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return fmt.Errorf("empty element")
	}
	switch raw[0] {
	case '"':
		if !allowString {
			return fmt.Errorf("a JSON string nested in a JSON string")
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		return d.decodeElement(m, []byte(s), false)
	case '{':
	default:
		return fmt.Errorf("element is not an object or a JSON string")
	}
	var ev cloudEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return err
	}
	data := ev.rawData
	if ev.Data != nil || ev.Specversion != nil {
		m.EventID = deref(ev.ID)
		if len(ev.Data) == 0 || bytes.Equal(ev.Data, []byte("null")) {
			return fmt.Errorf("CloudEvent without data")
		}
		data = rawData{}
		if err := json.Unmarshal(ev.Data, &data); err != nil {
			return fmt.Errorf("CloudEvent data: %v", err)
		}
	}
	m.MessageID = deref(data.MessageID)
	m.RequestID = deref(data.RequestID)
	if data.MessageBody == nil {
		return fmt.Errorf("no messageBody")
	}
	m.Body = *data.MessageBody
	if d.TryBase64 {
		if b, ok := decodeBase64JSON(m.Body); ok {
			m.Body, m.Base64Decoded = string(b), true
		}
	}
	return nil
}

// decodeBase64JSON returns the decoded body when s is not JSON itself but is
// strict standard base64 of valid JSON.
func decodeBase64JSON(s string) ([]byte, bool) {
	if s == "" || json.Valid([]byte(s)) {
		return nil, false
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || !json.Valid(b) {
		return nil, false
	}
	return b, true
}
