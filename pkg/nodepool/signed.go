package nodepool

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// VersionSigned is the version of a signed envelope (SignedEnvelope): a
// version-1 envelope wrapped with the caller it is made for and an
// HMAC-SHA256 over both by one of that caller's secrets. With CALLERS
// set, the worker reads only these: an envelope naming a caller is
// authenticated as that caller before anything in it is trusted.
const VersionSigned = 2

// signaturePrefix starts SignedEnvelope.Signature and names the MAC.
const signaturePrefix = "hmac-sha256="

// envelopeKeyLabel separates the envelope keys from every other use of a
// caller's secret (the Standard Webhooks signatures of its HTTP requests).
const envelopeKeyLabel = "ens-nodepool envelope v2"

// ErrUnauthenticated is matched by every SignedEnvelope.Verify error.
var ErrUnauthenticated = errors.New("nodepool: the envelope's signature does not verify")

// EnvelopeKey derives the key a caller's envelopes are signed with from
// one of its secrets (the decoded bytes of a "whsec_" secret):
// HMAC-SHA256(secret, "ens-nodepool envelope v2"), so a signature made for
// the queue is never one for anything else.
func EnvelopeKey(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(envelopeKeyLabel))
	return m.Sum(nil)
}

// SignedEnvelope is a message of version VersionSigned on the requests
// queue:
//
//	{"Version":2,"Caller":"portal-a","Envelope":"{\"Version\":1,…}","Signature":"hmac-sha256=<base64>"}
//
// Envelope is the version-1 envelope's JSON text exactly as signed (its
// own Caller equals Caller); Signature is the standard base64 of
// HMAC-SHA256(EnvelopeKey(secret), "v2." + Caller + "." + Envelope) with
// one of the caller's secrets. Any producer can build one in a few lines;
// Sign does it in Go.
type SignedEnvelope struct {
	// Version is VersionSigned.
	Version int `json:"Version"`
	// Caller is the Id of the caller (CALLERS) whose secret signed.
	Caller string `json:"Caller"`
	// Envelope is the version-1 envelope, as JSON text.
	Envelope string `json:"Envelope"`
	// Signature is "hmac-sha256=" and the base64 MAC.
	Signature string `json:"Signature"`
}

// Sign wraps e, which must name its Caller, in a SignedEnvelope signed
// with key (EnvelopeKey of one of the caller's secrets) and returns the
// message.
func (e *Envelope) Sign(key []byte) ([]byte, error) {
	if e.Caller == "" {
		return nil, fieldErr("Caller", "is required in a signed envelope")
	}
	if len(key) == 0 {
		return nil, errors.New("nodepool: no key to sign the envelope with")
	}
	inner, err := e.Marshal()
	if err != nil {
		return nil, err
	}
	s := SignedEnvelope{Version: VersionSigned, Caller: e.Caller, Envelope: string(inner)}
	s.Signature = signaturePrefix + base64.StdEncoding.EncodeToString(s.mac(key))
	return json.Marshal(s)
}

// mac is the MAC of the envelope under key.
func (s *SignedEnvelope) mac(key []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("v2." + s.Caller + "."))
	m.Write([]byte(s.Envelope))
	return m.Sum(nil)
}

// Verify reports whether one of keys signed s (constant-time compares);
// the error matches ErrUnauthenticated.
func (s *SignedEnvelope) Verify(keys [][]byte) error {
	sig, ok := strings.CutPrefix(s.Signature, signaturePrefix)
	if !ok {
		return errors.Join(ErrUnauthenticated, errors.New(`the Signature does not start with "hmac-sha256="`))
	}
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return errors.Join(ErrUnauthenticated, errors.New("the Signature is not base64"))
	}
	for _, k := range keys {
		if hmac.Equal(got, s.mac(k)) {
			return nil
		}
	}
	return ErrUnauthenticated
}

// MessageVersion reads the Version of a queue message without decoding
// the rest: 0 when it has none; an error when data is not a JSON object or
// Version is not an integer.
func MessageVersion(data []byte) (int64, error) {
	var head struct {
		Version json.Number `json:"Version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return 0, fieldErr("", "is not a JSON object")
	}
	if head.Version == "" {
		return 0, nil
	}
	v, err := head.Version.Int64()
	if err != nil {
		return 0, fieldErr("Version", "must be an integer")
	}
	return v, nil
}

// ParseSigned decodes a message of version VersionSigned as strictly as
// Decode (no unknown or duplicate member; a Caller Id). It does not verify
// the signature (Verify) nor read the envelope inside (Parse
// SignedEnvelope.Envelope after Verify).
func ParseSigned(data []byte) (*SignedEnvelope, error) {
	v, err := MessageVersion(data)
	if err != nil {
		return nil, err
	}
	if v != VersionSigned {
		return nil, &UnsupportedVersionError{Version: v}
	}
	var s SignedEnvelope
	if err := decodeStrict(data, &s); err != nil {
		return nil, err
	}
	var fields []FieldError
	if !reCaller.MatchString(s.Caller) {
		fields = append(fields, FieldError{Field: "Caller", Message: "must be a caller Id: 1-64 characters of [a-z0-9_.-]"})
	}
	if s.Envelope == "" {
		fields = append(fields, FieldError{Field: "Envelope", Message: "is required: the version-" + strconv.Itoa(Version) + " envelope as JSON text"})
	}
	if s.Signature == "" {
		fields = append(fields, FieldError{Field: "Signature", Message: "is required"})
	}
	if len(fields) > 0 {
		return nil, &ValidationError{Fields: fields}
	}
	return &s, nil
}

// Unwrap returns the version-1 envelope a queue message carries: the
// message itself when it is not signed (signed is nil), the Envelope of a
// SignedEnvelope otherwise — without verifying the signature. It is for
// identifying and showing a message (tools, dead-letter records, tests),
// never for acting on one: the worker verifies first.
func Unwrap(data []byte) (envelope []byte, signed *SignedEnvelope, err error) {
	v, err := MessageVersion(data)
	if err != nil || v != VersionSigned {
		return data, nil, nil
	}
	s, err := ParseSigned(data)
	if err != nil {
		return nil, nil, err
	}
	return []byte(s.Envelope), s, nil
}
