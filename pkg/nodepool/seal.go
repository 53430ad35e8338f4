package nodepool

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
)

// Sealing errors (errors.Is-able).
var (
	// ErrUnknownKey: the sealed value names a key id this Sealer lacks.
	ErrUnknownKey = errors.New("nodepool: sealed with an unknown key id")
	// ErrSealBroken: the sealed value is malformed or fails authentication.
	ErrSealBroken = errors.New("nodepool: sealed value is malformed or was tampered with")
	// ErrBadKeys: the key configuration is unusable.
	ErrBadKeys = errors.New("nodepool: bad sealing keys")
)

// sealPrefix is the format version of sealed values.
const sealPrefix = "v1"

var reKeyID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// Key is one AES-256 key with its id. Its String, GoString and LogValue
// show the id only.
type Key struct {
	ID     string
	Secret []byte // 32 bytes
}

// String implements fmt.Stringer without revealing the secret.
func (k Key) String() string { return "Key(" + k.ID + ")" }

// GoString implements fmt.GoStringer without revealing the secret.
func (k Key) GoString() string { return k.String() }

// LogValue implements slog.LogValuer without revealing the secret.
func (k Key) LogValue() slog.Value { return slog.StringValue(k.String()) }

// ParseKeys parses "kid1:base64key,kid2:base64key" (standard or URL-safe
// base64, padded or not, of exactly 32 bytes each; ids of 1–32 characters
// [A-Za-z0-9_-], distinct). The first key seals; all open. Errors name the
// position and id, never the key material.
func ParseKeys(s string) ([]Key, error) {
	var keys []Key
	seen := map[string]bool{}
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		id, b64, ok := strings.Cut(part, ":")
		if !ok || !reKeyID.MatchString(id) {
			return nil, fmt.Errorf("%w: entry %d: want kid:base64key with kid of [A-Za-z0-9_-]{1,32}", ErrBadKeys, i+1)
		}
		if seen[id] {
			return nil, fmt.Errorf("%w: entry %d: duplicate key id %q", ErrBadKeys, i+1, id)
		}
		seen[id] = true
		secret, err := decodeKey(b64)
		if err != nil || len(secret) != 32 {
			return nil, fmt.Errorf("%w: key %q: want base64 of exactly 32 bytes", ErrBadKeys, id)
		}
		keys = append(keys, Key{ID: id, Secret: secret})
	}
	return keys, nil
}

func decodeKey(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// Sealer seals passwords with AES-256-GCM so no queue holds them in clear.
// A sealed value is "v1.<kid>.<base64url(nonce|ciphertext)>"; the prefix
// and key id are authenticated as additional data. The first key seals;
// every key opens, so keys rotate by prepending a new one and dropping the
// old one after the queues drained. Safe for concurrent use.
type Sealer struct {
	sealID string
	aeads  map[string]cipher.AEAD
	rand   io.Reader // crypto/rand unless a test sets it
}

// NewSealer builds a Sealer from keys (the first seals).
func NewSealer(keys []Key) (*Sealer, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no key", ErrBadKeys)
	}
	s := &Sealer{sealID: keys[0].ID, aeads: make(map[string]cipher.AEAD, len(keys)), rand: rand.Reader}
	for _, k := range keys {
		if !reKeyID.MatchString(k.ID) || len(k.Secret) != 32 {
			return nil, fmt.Errorf("%w: key %q: want an id of [A-Za-z0-9_-]{1,32} and 32 bytes", ErrBadKeys, k.ID)
		}
		if _, dup := s.aeads[k.ID]; dup {
			return nil, fmt.Errorf("%w: duplicate key id %q", ErrBadKeys, k.ID)
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("%w: key %q", ErrBadKeys, k.ID)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("%w: key %q", ErrBadKeys, k.ID)
		}
		s.aeads[k.ID] = aead
	}
	return s, nil
}

// String implements fmt.Stringer without revealing key material.
func (s *Sealer) String() string { return "Sealer(seal=" + s.sealID + ")" }

// LogValue implements slog.LogValuer without revealing key material.
func (s *Sealer) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Seal encrypts plaintext with the sealing key.
func (s *Sealer) Seal(plaintext string) (string, error) {
	aead := s.aeads[s.sealID]
	buf := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := io.ReadFull(s.rand, buf); err != nil {
		return "", fmt.Errorf("nodepool: seal: nonce: %w", err)
	}
	head := sealPrefix + "." + s.sealID
	buf = aead.Seal(buf, buf[:aead.NonceSize()], []byte(plaintext), []byte(head))
	return head + "." + base64.RawURLEncoding.EncodeToString(buf), nil
}

// Open decrypts a value made by Seal with any of the Sealer's keys. Errors
// wrap ErrUnknownKey or ErrSealBroken and never contain the plaintext.
func (s *Sealer) Open(sealed string) (string, error) {
	ver, rest, ok := strings.Cut(sealed, ".")
	if !ok || ver != sealPrefix {
		return "", ErrSealBroken
	}
	kid, b64, ok := strings.Cut(rest, ".")
	if !ok {
		return "", ErrSealBroken
	}
	aead, ok := s.aeads[kid]
	if !ok {
		if reKeyID.MatchString(kid) {
			return "", fmt.Errorf("%w %q", ErrUnknownKey, kid)
		}
		return "", ErrSealBroken
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(b64)
	if err != nil || len(raw) < aead.NonceSize()+aead.Overhead() {
		return "", ErrSealBroken
	}
	n := aead.NonceSize()
	pt, err := aead.Open(nil, raw[:n], raw[n:], []byte(sealPrefix+"."+kid))
	if err != nil {
		return "", ErrSealBroken
	}
	return string(pt), nil
}
