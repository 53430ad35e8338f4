// Package deadletter reads and acts on the dead-letter queue: it parses
// every record shape written there (the worker's "request" records, the
// poller's "callback" and "tracking" records, and the messages an
// EventBridge MNS trigger dead-letters — whole CloudEvents, or the bare
// message body), groups and filters them, and moves them back: request
// records onto the requests queue as the envelope they were, callback
// records onto the tracking queue as a fresh delivery of the same event.
//
// A record leaves the dead-letter queue only after its new message was
// acknowledged, so a run that is killed loses nothing; at worst the record
// in flight is moved twice, and both copies carry the same stable ids (the
// RequestId the worker's idempotency keys on, the callback's webhook-id).
//
// MNS has no way to read a queue without receiving its messages, so every
// command receives the records it looks at, keeps them invisible while it
// works (Tool.Hold) and makes the ones it did not move visible again when
// it is done. Run one command at a time against a queue.
package deadletter

import (
	"bytes"
	"cmp"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/fcadapter"
	"github.com/ensnodepool/webhook/pkg/mns"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// Kinds Parse gives to messages without a Kind of their own (besides
// KindRequest, KindCallback and KindTracking, records.go).
const (
	// KindTrigger is a requests-queue message the EventBridge trigger gave
	// up on: a whole CloudEvent, or the message body as sent.
	KindTrigger = "trigger"
	// KindUnknown is anything else.
	KindUnknown = "unknown"
)

// ReasonTrigger is the Reason of a KindTrigger record.
const ReasonTrigger = "trigger-retries-exhausted"

// Record is one dead-letter queue message, parsed. The fields common to
// every kind are filled from wherever that kind keeps them.
type Record struct {
	// ID is the MNS message id on the dead-letter queue.
	ID string
	// Kind is one of the Kind* constants.
	Kind string
	// Reason says why, as the record gives it (free text for request
	// records; gone, refused or exhausted for callbacks; invalid for
	// tracking messages).
	Reason string
	// Code is the machine-readable reason of a request record (an ENS error
	// code, Conflict, InvalidRequest, …).
	Code string `json:",omitempty"`
	// Event is a callback record's event type (nodepool.active, …).
	Event string `json:",omitempty"`
	// RequestId, ClusterId, Name and Caller identify the request, when the
	// record names them. Caller is read from any member named "Caller"
	// (any case) in the record or the message it carries.
	RequestId string `json:",omitempty"`
	ClusterId string `json:",omitempty"`
	Name      string `json:",omitempty"`
	Caller    string `json:",omitempty"`
	// At is when the record was written (its own At, else the enqueue time).
	At time.Time
	// EnqueuedAt and DequeueCount are as MNS reports them.
	EnqueuedAt   time.Time `json:",omitzero"`
	DequeueCount int       `json:",omitempty"`
	// Body is the message body with every password member masked
	// (nodepool.RedactJSON); a body that is not JSON is not shown (see
	// shown).
	Body string `json:"-"`

	// payload is what a redrive sends: the envelope of a request or
	// trigger record; nil when the record cannot be redriven (why in
	// notRedrivable).
	payload       []byte
	delivery      *callback.Delivery
	notRedrivable string
	receipt       string
}

// Cause is the group key beside Kind: Code when the record has one, else
// Reason.
func (r *Record) Cause() string {
	if r.Code != "" {
		return r.Code
	}
	return r.Reason
}

// Age is how long ago the record was written.
func (r *Record) Age(now time.Time) time.Duration { return now.Sub(r.At) }

// Parse reads one dead-letter queue message. It never fails: a body it
// cannot read is a KindUnknown record.
func Parse(m mns.Message) Record {
	r := Record{ID: m.ID, At: m.EnqueueTime, EnqueuedAt: m.EnqueueTime, DequeueCount: m.DequeueCount,
		Body: shown(m.Body), receipt: m.ReceiptHandle}
	var head struct {
		Kind        string
		Specversion *string `json:"specversion"`
		Version     json.RawMessage
		Request     json.RawMessage
	}
	if err := json.Unmarshal([]byte(m.Body), &head); err != nil {
		r.Kind, r.Reason, r.notRedrivable = KindUnknown, "unreadable", "not a JSON object"
		return r
	}
	switch {
	case head.Kind == KindRequest:
		parseRequest(&r, m.Body)
	case head.Kind == KindCallback:
		parseCallback(&r, m.Body)
	case head.Kind == KindTracking:
		parseTracking(&r, m.Body)
	case head.Specversion != nil:
		parseCloudEvent(&r, m.Body)
	case head.Version != nil && head.Request != nil:
		r.Kind, r.Reason = KindTrigger, ReasonTrigger
		fromEnvelope(&r, []byte(m.Body))
	default:
		r.Kind, r.Reason, r.notRedrivable = KindUnknown, "unreadable", "no Kind, not a CloudEvent or an envelope"
	}
	if r.Caller == "" {
		r.Caller = findCaller([]byte(m.Body), 0)
	}
	return r
}

// shown is body as a reader may see it: with every password member masked
// (nodepool.RedactJSON), or, when body is not JSON and a password in it
// could not be found, a note of its size instead.
func shown(body string) string {
	if out, ok := nodepool.RedactJSON([]byte(body)); ok {
		return string(out)
	}
	return `"(withheld: ` + strconv.Itoa(len(body)) + ` bytes that are not JSON)"`
}

func parseRequest(r *Record, body string) {
	var dl RequestRecord
	if err := json.Unmarshal([]byte(body), &dl); err != nil {
		r.Kind, r.Reason, r.notRedrivable = KindRequest, "unreadable", "unreadable request record: "+err.Error()
		return
	}
	r.Kind, r.Reason, r.Code = KindRequest, dl.Reason, dl.Code
	r.RequestId, r.ClusterId, r.Name = dl.RequestId, dl.ClusterId, dl.Name
	if !dl.At.IsZero() {
		r.At = dl.At
	}
	if dl.Truncated {
		r.notRedrivable = "the recorded body was truncated"
		return
	}
	if dl.BodyWithheld {
		r.notRedrivable = "the recorded body was withheld: it is not JSON"
		return
	}
	inner := []byte(dl.Body)
	// The worker records the whole trigger element when it could not
	// decode it: unwrap a CloudEvent to reach the envelope.
	if ms, err := fcadapter.Decode(inner); err == nil && len(ms) == 1 && ms[0].Err == nil && ms[0].Body != dl.Body {
		inner = []byte(ms[0].Body)
	}
	saved := *r
	fromEnvelope(r, inner)
	// The record's own identification wins over the body's.
	r.RequestId = cmp.Or(saved.RequestId, r.RequestId)
	r.ClusterId = cmp.Or(saved.ClusterId, r.ClusterId)
	r.Name = cmp.Or(saved.Name, r.Name)
}

func parseCallback(r *Record, body string) {
	var dl CallbackRecord
	if err := json.Unmarshal([]byte(body), &dl); err != nil {
		r.Kind, r.Reason, r.notRedrivable = KindCallback, "unreadable", "unreadable callback record: "+err.Error()
		return
	}
	d := dl.Delivery
	r.Kind, r.Reason, r.Event = KindCallback, string(dl.Reason), d.Event.Type
	r.RequestId, r.ClusterId, r.Name = d.Event.Data.RequestId, d.Event.Data.ClusterId, d.Event.Data.Name
	if !dl.At.IsZero() {
		r.At = dl.At
	}
	switch {
	case d.URL == "" || d.Event.Type == "" || d.MessageID == "":
		r.notRedrivable = "the record has no URL, event or webhook-id"
	case r.RequestId == "" || r.ClusterId == "" || r.Name == "":
		r.notRedrivable = "the event names no RequestId, ClusterId and Name"
	default:
		r.delivery = &d
	}
}

func parseTracking(r *Record, body string) {
	var im TrackingRecord
	if err := json.Unmarshal([]byte(body), &im); err != nil {
		r.Kind, r.Reason = KindTracking, "unreadable"
	} else {
		r.Kind, r.Reason = KindTracking, im.Reason
		if !im.At.IsZero() {
			r.At = im.At
		}
		var ids struct{ RequestId, ClusterId, Name string }
		if json.Unmarshal([]byte(im.Body), &ids) == nil {
			r.RequestId, r.ClusterId, r.Name = ids.RequestId, ids.ClusterId, ids.Name
		}
	}
	r.notRedrivable = "an unreadable tracking message cannot be redriven; fix it and send it yourself"
}

func parseCloudEvent(r *Record, body string) {
	r.Kind, r.Reason = KindTrigger, ReasonTrigger
	ms, err := fcadapter.Decode([]byte(body))
	if err != nil || len(ms) != 1 || ms[0].Err != nil {
		r.notRedrivable = "the CloudEvent carries no readable MNS message"
		return
	}
	fromEnvelope(r, []byte(ms[0].Body))
}

// fromEnvelope identifies r from an envelope and makes it the redrive
// payload when it is one the worker would read.
func fromEnvelope(r *Record, b []byte) {
	env, err := nodepool.Parse(b)
	if err != nil {
		var ids struct {
			RequestId string
			Request   struct {
				ClusterId    string
				NodepoolInfo struct{ Name string }
			}
		}
		if json.Unmarshal(b, &ids) == nil {
			r.RequestId, r.ClusterId, r.Name = ids.RequestId, ids.Request.ClusterId, ids.Request.NodepoolInfo.Name
		}
		// b may have been decoded (a CloudEvent's base64 body), so look
		// for its Caller here: the raw message does not show it.
		r.Caller = findCaller(b, 0)
		r.notRedrivable = "the body is not a valid envelope: " + err.Error()
		return
	}
	r.RequestId, r.ClusterId, r.Name, r.Caller = env.RequestId, env.Request.ClusterId, env.Request.NodepoolInfo.Name, env.Caller
	r.payload = bytes.Clone(b)
}

// findCaller returns the first member named "Caller" (any case), breadth
// first, in b or in JSON strings inside it (a record's Body): a string
// value as is, anything else compact JSON. The choice is the same on every
// run: within an object a member spelled "Caller" wins, then the other
// spellings in byte order, and objects are searched in member-name order.
func findCaller(b []byte, depth int) string {
	if depth > 2 {
		return ""
	}
	var v any
	if json.Unmarshal(b, &v) != nil {
		return ""
	}
	var nested []string
	level := []any{v}
	for range 6 {
		var next []any
		for _, x := range level {
			switch t := x.(type) {
			case map[string]any:
				keys := slices.Sorted(maps.Keys(t))
				if c, ok := callerIn(t, keys); ok {
					return c
				}
				for _, k := range keys {
					next = append(next, t[k])
				}
			case []any:
				next = append(next, t...)
			case string:
				if s := strings.TrimSpace(t); strings.HasPrefix(s, "{") {
					nested = append(nested, s)
				}
			}
		}
		level = next
	}
	for _, s := range nested {
		if c := findCaller([]byte(s), depth+1); c != "" {
			return c
		}
	}
	return ""
}

// callerIn returns the value of obj's caller member: "Caller" if present,
// else the first of its keys (sorted) that equals "caller" in any case.
func callerIn(obj map[string]any, sortedKeys []string) (string, bool) {
	name, found := "Caller", obj["Caller"] != nil
	for _, k := range sortedKeys {
		if !found && strings.EqualFold(k, "caller") && obj[k] != nil {
			name, found = k, true
		}
	}
	if !found {
		return "", false
	}
	if s, ok := obj[name].(string); ok {
		return s, true
	}
	c, _ := json.Marshal(obj[name])
	return string(c), true
}
