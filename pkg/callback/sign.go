package callback

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Standard Webhooks header names.
const (
	HeaderID        = standardwebhooks.HeaderWebhookID
	HeaderTimestamp = standardwebhooks.HeaderWebhookTimestamp
	HeaderSignature = standardwebhooks.HeaderWebhookSignature
)

// SecretPrefix starts every symmetric Standard Webhooks secret.
const SecretPrefix = "whsec_"

// Secret key sizes the spec allows (24 to 64 random bytes).
const (
	minSecretBytes = 24
	maxSecretBytes = 64
)

// NewSecret returns a fresh "whsec_" secret of 32 random bytes.
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// parseSecret decodes a "whsec_<base64>" secret into a library webhook.
// The error never contains the secret.
func parseSecret(i int, s string) (*standardwebhooks.Webhook, error) {
	if !strings.HasPrefix(s, SecretPrefix) {
		return nil, fmt.Errorf("%w: secret %d: must start with %q", ErrConfig, i, SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, SecretPrefix))
	if err != nil {
		return nil, fmt.Errorf("%w: secret %d: not base64", ErrConfig, i)
	}
	if len(key) < minSecretBytes || len(key) > maxSecretBytes {
		return nil, fmt.Errorf("%w: secret %d: %d bytes, want %d to %d", ErrConfig, i, len(key), minSecretBytes, maxSecretBytes)
	}
	return standardwebhooks.NewWebhookRaw(key)
}

func parseSecrets(secrets []string) ([]*standardwebhooks.Webhook, error) {
	if len(secrets) == 0 {
		return nil, fmt.Errorf("%w: no signing secret", ErrConfig)
	}
	hooks := make([]*standardwebhooks.Webhook, 0, len(secrets))
	for i, s := range secrets {
		wh, err := parseSecret(i, s)
		if err != nil {
			return nil, err
		}
		hooks = append(hooks, wh)
	}
	return hooks, nil
}

// Signer signs callback bodies with Standard Webhooks v1 (HMAC-SHA256 over
// "id.timestamp.body", base64, "v1," prefix). It uses the spec authors'
// reference Go library (github.com/standard-webhooks/standard-webhooks/
// libraries/go, Apache-2.0, no dependencies) so the byte layout is the
// spec's own; tests cross-check it with an independent implementation.
type Signer struct {
	hooks []*standardwebhooks.Webhook
}

// NewSigner returns a Signer for one or more "whsec_" secrets. With several
// secrets (key rotation) every request carries one signature per secret,
// space-separated, and receivers holding either secret accept it.
func NewSigner(secrets ...string) (*Signer, error) {
	hooks, err := parseSecrets(secrets)
	if err != nil {
		return nil, err
	}
	return &Signer{hooks: hooks}, nil
}

// Sign returns the webhook-signature header value for msgID, ts and body.
func (s *Signer) Sign(msgID string, ts time.Time, body []byte) (string, error) {
	sigs := make([]string, 0, len(s.hooks))
	for _, wh := range s.hooks {
		sig, err := wh.Sign(msgID, ts, body)
		if err != nil {
			return "", err
		}
		sigs = append(sigs, sig)
	}
	return strings.Join(sigs, " "), nil
}

// Headers returns the three webhook-* headers for one attempt.
func (s *Signer) Headers(msgID string, ts time.Time, body []byte) (http.Header, error) {
	sig, err := s.Sign(msgID, ts, body)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set(HeaderID, msgID)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return h, nil
}

// DefaultTolerance is how far webhook-timestamp may be from the verifier's
// clock, in either direction (the spec libraries' value).
const DefaultTolerance = 5 * time.Minute

// VerifierConfig configures a Verifier.
type VerifierConfig struct {
	// Secrets are the "whsec_" secrets accepted; any one matching suffices.
	Secrets []string
	// Tolerance bounds |now - webhook-timestamp|; default DefaultTolerance.
	Tolerance time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Verifier checks Standard Webhooks v1 signatures, for receivers (such as
// the local demo receiver) and tests.
type Verifier struct {
	hooks     []*standardwebhooks.Webhook
	tolerance time.Duration
	now       func() time.Time
}

// NewVerifier returns a Verifier for cfg.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	hooks, err := parseSecrets(cfg.Secrets)
	if err != nil {
		return nil, err
	}
	if cfg.Tolerance < 0 {
		return nil, fmt.Errorf("%w: Tolerance must not be negative", ErrConfig)
	}
	v := &Verifier{hooks: hooks, tolerance: cfg.Tolerance, now: cfg.Now}
	if v.tolerance == 0 {
		v.tolerance = DefaultTolerance
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v, nil
}

// Verify checks body against the webhook-* headers: all present, timestamp
// within tolerance of the injected clock, and a v1 signature by one of the
// secrets (constant-time compare, inside the library). It returns an error
// matching ErrHeaders, ErrTimestamp or ErrSignature. Receivers must verify
// the raw body bytes before decoding them, and deduplicate on webhook-id.
func (v *Verifier) Verify(body []byte, h http.Header) error {
	id, ts, sig := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || ts == "" || sig == "" {
		return fmt.Errorf("%w: need %s, %s and %s", ErrHeaders, HeaderID, HeaderTimestamp, HeaderSignature)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s is not an integer", ErrHeaders, HeaderTimestamp)
	}
	now := v.now().Unix()
	tol := int64(v.tolerance / time.Second)
	if sec < now-tol || sec > now+tol {
		return ErrTimestamp
	}
	for _, wh := range v.hooks {
		// The timestamp was checked above against the injected clock;
		// the library's own check uses the wall clock.
		if wh.VerifyIgnoringTimestamp(body, h) == nil {
			return nil
		}
	}
	return ErrSignature
}
