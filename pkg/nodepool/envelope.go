package nodepool

import (
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	_ "embed" // the envelope JSON Schema
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"time"
)

// Version is the envelope version this package writes and reads.
const Version = 1

// Sources of a request (Envelope.Source). Other lower-case names are
// allowed for other automation.
const (
	SourceWebhook = "webhook"
	SourceQueue   = "queue"
	SourceChatOps = "chatops"
)

// ErrUnsupportedVersion is matched by *UnsupportedVersionError.
var ErrUnsupportedVersion = errors.New("nodepool: unsupported envelope version")

// UnsupportedVersionError reports an envelope of a version this build does
// not read (missing Version reads as 0).
type UnsupportedVersionError struct{ Version int64 }

// Error implements error.
func (e *UnsupportedVersionError) Error() string {
	return "nodepool: unsupported envelope version " + strconv.FormatInt(e.Version, 10) + " (want " + strconv.Itoa(Version) + ")"
}

// Is makes errors.Is(err, ErrUnsupportedVersion) true.
func (e *UnsupportedVersionError) Is(target error) bool { return target == ErrUnsupportedVersion }

// Envelope is the message on the requests queue: a public, versioned
// contract that automation may produce directly (schema: Schema). Any
// change to its shape bumps Version. The request's password never appears
// in it: Request.ScalingGroup.Password is empty and SealedPassword holds it
// sealed by a Sealer.
type Envelope struct {
	// Version is the envelope format, 1.
	Version int `json:"Version"`
	// RequestId identifies the request end to end (see RequestID).
	RequestId string `json:"RequestId"`
	// ReceivedAt is when the request entered the system (UTC, RFC 3339).
	ReceivedAt time.Time `json:"ReceivedAt"`
	// Source is who produced it: "webhook", "queue", "chatops", …
	Source string `json:"Source"`
	// Caller is the Id of the caller (CALLERS) on whose behalf the request
	// is made; the worker checks that caller's policy again. Required when
	// CALLERS is set, absent in simple mode.
	Caller string `json:"Caller,omitempty"`
	// Request is the node-pool request with Password cleared.
	Request Request `json:"Request"`
	// SealedPassword is the sealed password, or empty with KeyPairName.
	SealedPassword string `json:"SealedPassword,omitempty"`
}

//go:embed envelope.schema.json
var schema []byte

//go:embed signed.schema.json
var signedSchema []byte

// Schema returns the JSON Schema (draft 2020-12) of Envelope, the
// documented contract for producers that write to the queue directly.
func Schema() []byte { return append([]byte(nil), schema...) }

// SignedSchema returns the JSON Schema (draft 2020-12) of SignedEnvelope,
// the message a producer acting for a caller sends (CALLERS).
func SignedSchema() []byte { return append([]byte(nil), signedSchema...) }

// NewEnvelope wraps a copy of req for the queue, sealing its password with
// s (s may be nil if req has no password). receivedAt is stored in UTC at
// millisecond precision.
func NewEnvelope(req *Request, requestID, source string, receivedAt time.Time, s *Sealer) (*Envelope, error) {
	e := &Envelope{
		Version:    Version,
		RequestId:  requestID,
		ReceivedAt: receivedAt.UTC().Truncate(time.Millisecond),
		Source:     source,
		Request:    *req.Clone(),
	}
	if pw := e.Request.ScalingGroup.Password; pw != "" {
		if s == nil {
			return nil, errors.New("nodepool: envelope: request has a password but no Sealer is configured")
		}
		sealed, err := s.Seal(pw)
		if err != nil {
			return nil, err
		}
		e.SealedPassword = sealed
		e.Request.ScalingGroup.Password = ""
	}
	if err := e.check(); err != nil {
		return nil, err
	}
	return e, nil
}

// Marshal encodes e after checking its envelope fields.
func (e *Envelope) Marshal() ([]byte, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	return json.Marshal(e)
}

// Parse decodes a queue message. An envelope of another Version fails with
// *UnsupportedVersionError before anything else is looked at; otherwise
// decoding is as strict as Decode (paths start with "Request." for the
// request) and the envelope fields are checked. The request rules are not
// applied: call Open, then Validator.Validate, so the password is checked
// too.
func Parse(data []byte) (*Envelope, error) {
	var head struct {
		Version json.Number `json:"Version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fieldErr("", "is not a JSON object")
	}
	v, err := head.Version.Int64()
	if err != nil {
		if head.Version == "" {
			return nil, &UnsupportedVersionError{Version: 0}
		}
		return nil, fieldErr("Version", "must be an integer")
	}
	if v != Version {
		return nil, &UnsupportedVersionError{Version: v}
	}
	var e Envelope
	if err := decodeStrict(data, &e); err != nil {
		return nil, err
	}
	if err := e.check(); err != nil {
		return nil, err
	}
	return &e, nil
}

// Open returns a copy of the request with its password unsealed by s.
func (e *Envelope) Open(s *Sealer) (*Request, error) {
	r := e.Request.Clone()
	if e.SealedPassword == "" {
		return r, nil
	}
	if s == nil {
		return nil, fmt.Errorf("%w: no Sealer configured", ErrUnknownKey)
	}
	pw, err := s.Open(e.SealedPassword)
	if err != nil {
		return nil, err
	}
	r.ScalingGroup.Password = pw
	return r, nil
}

var (
	reRequestID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	reSource    = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
	reCaller    = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)
	reSealed    = regexp.MustCompile(`^v1\.[A-Za-z0-9_-]{1,32}\.[A-Za-z0-9_-]+$`)
)

// ValidRequestID reports whether s has the form of a RequestId (1-64
// characters of [A-Za-z0-9_-]), as an envelope must carry it.
func ValidRequestID(s string) bool { return reRequestID.MatchString(s) }

// ValidCallerID reports whether s has the form of a caller Id (CALLERS).
func ValidCallerID(s string) bool { return reCaller.MatchString(s) }

// defaultValidator applies the rules every deployment shares (the pool
// key's are not configurable).
var defaultValidator = sync.OnceValue(func() *Validator { return NewValidator(ValidationConfig{}) })

// ValidPoolKey reports whether clusterID and name have the forms the
// request rules give a ClusterId and a NodepoolInfo.Name (either may be ""
// to check only the other).
func ValidPoolKey(clusterID, name string) bool {
	c, n := cmp.Or(clusterID, "eck-x"), cmp.Or(name, "x")
	return defaultValidator().ValidatePoolKey(c, n) == nil
}

// check verifies the envelope's own fields (not the request rules).
func (e *Envelope) check() error {
	var fields []FieldError
	add := func(f, m string) { fields = append(fields, FieldError{Field: f, Message: m}) }
	if e.Version != Version {
		add("Version", "must be "+strconv.Itoa(Version))
	}
	if !reRequestID.MatchString(e.RequestId) {
		add("RequestId", "must be 1-64 characters of [A-Za-z0-9_-]")
	}
	if e.ReceivedAt.IsZero() {
		add("ReceivedAt", "is required")
	}
	if !reSource.MatchString(e.Source) {
		add("Source", "must be a lower-case name like webhook, queue or chatops")
	}
	if e.Caller != "" && !reCaller.MatchString(e.Caller) {
		add("Caller", "must be a caller Id: 1-64 characters of [a-z0-9_.-]")
	}
	if e.Request.ScalingGroup.Password != "" {
		add("Request.ScalingGroup.Password", "must be empty: send the password sealed in SealedPassword")
	}
	if e.SealedPassword != "" && !reSealed.MatchString(e.SealedPassword) {
		add("SealedPassword", "must be a sealed value v1.<kid>.<base64url>")
	}
	if len(fields) > 0 {
		return &ValidationError{Fields: fields}
	}
	return nil
}

// idEncoding is lower-case base32 without padding.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// RequestID derives the RequestId: stable for the same Idempotency-Key
// (preferred) or, without one, the same webhook-id, so a retried delivery
// gets the same id; random when both are empty. The form is "req_" and 26
// lower-case base32 characters (130 bits of SHA-256 or of randomness).
func RequestID(idempotencyKey, webhookID string) string {
	var sum [32]byte
	switch {
	case idempotencyKey != "":
		sum = sha256.Sum256([]byte("idempotency-key:" + idempotencyKey))
	case webhookID != "":
		sum = sha256.Sum256([]byte("webhook-id:" + webhookID))
	default:
		_, _ = rand.Read(sum[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	}
	return "req_" + idEncoding.EncodeToString(sum[:])[:26]
}
