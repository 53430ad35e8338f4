package chatops

import (
	"cmp"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Verification errors. Every one matches ErrUnauthorized (errors.Is); the
// HTTP answer never says which check failed, the log does.
var (
	// ErrUnauthorized is matched by every verification failure.
	ErrUnauthorized = errors.New("chatops: request not authenticated")
	// ErrMissing: a required signature header or field is absent or malformed.
	ErrMissing = fmt.Errorf("%w: missing or malformed signature headers", ErrUnauthorized)
	// ErrExpired: the request timestamp is outside the tolerance window.
	ErrExpired = fmt.Errorf("%w: timestamp outside the tolerance window", ErrUnauthorized)
	// ErrMismatch: no configured secret produces the signature (or token).
	ErrMismatch = fmt.Errorf("%w: signature does not match", ErrUnauthorized)
)

// ErrConfig reports an invalid verifier or handler configuration.
var ErrConfig = errors.New("chatops: invalid configuration")

// Verifier authenticates one inbound request of a platform from its
// headers and the raw body bytes (before any decoding). It returns nil or
// an error matching ErrUnauthorized. Implementations are safe for
// concurrent use.
type Verifier interface {
	Verify(r *http.Request, body []byte) error
}

// VerifierConfig configures the HMAC verifiers (Slack, DingTalk).
type VerifierConfig struct {
	// Secrets are the signing secrets; a signature by any of them is
	// accepted (rotation). At least one.
	Secrets []string
	// Tolerance is the accepted |now − timestamp|; default 5 minutes
	// (Slack's; DingTalk's own is an hour, bounded here: see
	// DingTalkVerifier).
	Tolerance time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (c VerifierConfig) build(def time.Duration, what string) (VerifierConfig, error) {
	c.Tolerance = cmp.Or(c.Tolerance, def)
	if c.Now == nil {
		c.Now = time.Now
	}
	var secrets []string
	for _, s := range c.Secrets {
		if s = strings.TrimSpace(s); s != "" {
			secrets = append(secrets, s)
		}
	}
	if len(secrets) == 0 {
		return c, fmt.Errorf("%w: %s: at least one secret is required", ErrConfig, what)
	}
	if c.Tolerance < 0 {
		return c, fmt.Errorf("%w: %s: Tolerance must not be negative", ErrConfig, what)
	}
	c.Secrets = secrets
	return c, nil
}

// within reports whether ts is within tol of now, either way.
func within(now, ts time.Time, tol time.Duration) bool {
	d := now.Sub(ts)
	return d <= tol && d >= -tol
}

// SlackVerifier checks Slack's v0 request signatures
// (https://api.slack.com/authentication/verifying-requests-from-slack).
type SlackVerifier struct{ cfg VerifierConfig }

// NewSlackVerifier returns a Verifier for Slack signing secrets; default
// tolerance 5 minutes.
func NewSlackVerifier(cfg VerifierConfig) (*SlackVerifier, error) {
	cfg, err := cfg.build(5*time.Minute, "Slack")
	if err != nil {
		return nil, err
	}
	return &SlackVerifier{cfg: cfg}, nil
}

// Verify implements Verifier: X-Slack-Signature must be
// "v0=" + hex(HMAC-SHA256(secret, "v0:" + X-Slack-Request-Timestamp + ":" + body)).
func (v *SlackVerifier) Verify(r *http.Request, body []byte) error {
	tsText := r.Header.Get("X-Slack-Request-Timestamp")
	sig, ok := strings.CutPrefix(r.Header.Get("X-Slack-Signature"), "v0=")
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if !ok || err != nil || len(sig) != sha256.Size*2 {
		return ErrMissing
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return ErrMissing
	}
	if !within(v.cfg.Now(), time.Unix(ts, 0), v.cfg.Tolerance) {
		return ErrExpired
	}
	for _, s := range v.cfg.Secrets {
		if hmac.Equal(got, SlackSignature(s, tsText, body)) {
			return nil
		}
	}
	return ErrMismatch
}

// SlackSignature returns HMAC-SHA256(secret, "v0:"+ts+":"+body) (raw
// bytes; the header carries "v0=" and its hex). Exported for tests and
// tools that sign sample requests.
func SlackSignature(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("v0:" + ts + ":"))
	m.Write(body)
	return m.Sum(nil)
}

// DingTalkVerifier checks DingTalk outgoing-robot requests
// (https://open.dingtalk.com/document/orgapp/receive-message).
//
// DingTalk signs only the timestamp, not the body, so a captured
// timestamp+sign pair authenticates any body until it expires. Two bounds
// keep that short: the window (default 5 minutes, DingTalk itself allows
// an hour) and a replay guard that accepts each sign once per instance
// within the window. Limits: the guard is in memory, so each further
// webhook instance (and a restarted one) would accept a captured pair once
// more within the window; when it holds MaxSeen live pairs it refuses new
// ones until some expire (fail closed).
type DingTalkVerifier struct {
	cfg VerifierConfig
	mu  sync.Mutex
	// seen maps each accepted sign to when it leaves the window.
	seen    map[string]time.Time
	maxSeen int
}

// DingTalkTolerance is the default DingTalk window.
const DingTalkTolerance = 5 * time.Minute

// DingTalkMaxSeen bounds the replay guard's memory (signs in the window).
const DingTalkMaxSeen = 100_000

// NewDingTalkVerifier returns a Verifier for DingTalk robot app secrets;
// default tolerance DingTalkTolerance.
func NewDingTalkVerifier(cfg VerifierConfig) (*DingTalkVerifier, error) {
	cfg, err := cfg.build(DingTalkTolerance, "DingTalk")
	if err != nil {
		return nil, err
	}
	return &DingTalkVerifier{cfg: cfg, seen: map[string]time.Time{}, maxSeen: DingTalkMaxSeen}, nil
}

// ErrReplayed: a DingTalk timestamp+sign pair already used.
var ErrReplayed = fmt.Errorf("%w: signature already used (replay)", ErrUnauthorized)

// Verify implements Verifier: header "timestamp" is Unix milliseconds and
// "sign" is base64(HMAC-SHA256(appSecret, timestamp + "\n" + appSecret)).
// The body is not signed by DingTalk; it is only trusted as coming from
// DingTalk within the window, once.
func (v *DingTalkVerifier) Verify(r *http.Request, _ []byte) error {
	tsText := r.Header.Get("timestamp")
	ms, err := strconv.ParseInt(tsText, 10, 64)
	got, err2 := base64.StdEncoding.DecodeString(r.Header.Get("sign"))
	if err != nil || err2 != nil || len(got) != sha256.Size {
		return ErrMissing
	}
	now, at := v.cfg.Now(), time.UnixMilli(ms)
	if !within(now, at, v.cfg.Tolerance) {
		return ErrExpired
	}
	ok := false
	for _, s := range v.cfg.Secrets {
		if hmac.Equal(got, DingTalkSignature(s, tsText)) {
			ok = true
			break
		}
	}
	if !ok {
		return ErrMismatch
	}
	return v.once(string(got), at.Add(v.cfg.Tolerance), now)
}

// once records sign until expires, refusing one already recorded.
func (v *DingTalkVerifier) once(sign string, expires, now time.Time) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, dup := v.seen[sign]; dup {
		return ErrReplayed
	}
	if len(v.seen) >= v.maxSeen {
		for k, exp := range v.seen {
			if !exp.After(now) {
				delete(v.seen, k)
			}
		}
		if len(v.seen) >= v.maxSeen {
			return fmt.Errorf("%w: replay guard full", ErrUnauthorized)
		}
	}
	v.seen[sign] = expires
	return nil
}

// DingTalkSignature returns HMAC-SHA256(secret, ts+"\n"+secret) (raw
// bytes; the header carries its base64).
func DingTalkSignature(secret, ts string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "\n" + secret))
	return m.Sum(nil)
}

// FeishuConfig configures a FeishuVerifier.
type FeishuConfig struct {
	// VerificationTokens are the app's Verification Tokens (several for
	// rotation); the token in every event body must equal one. At least one.
	VerificationTokens []string
	// EncryptKeys are the app's Encrypt Keys (several for rotation). When
	// set, every event must be encrypted and signed (X-Lark-Signature)
	// with one of them; plain bodies are refused. Recommended.
	EncryptKeys []string
	// Tolerance is the accepted |now − X-Lark-Request-Timestamp|; Feishu
	// states none, default 1 hour (our choice).
	Tolerance time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// FeishuVerifier authenticates and opens Feishu/Lark event-subscription
// requests (https://open.feishu.cn/document/server-docs/event-subscription-guide/event-subscription-configure-/request-url-configuration-case).
type FeishuVerifier struct{ cfg FeishuConfig }

// NewFeishuVerifier returns a FeishuVerifier.
func NewFeishuVerifier(cfg FeishuConfig) (*FeishuVerifier, error) {
	cfg.Tolerance = cmp.Or(cfg.Tolerance, time.Hour)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.VerificationTokens = nonEmpty(cfg.VerificationTokens)
	cfg.EncryptKeys = nonEmpty(cfg.EncryptKeys)
	if len(cfg.VerificationTokens) == 0 {
		return nil, fmt.Errorf("%w: Feishu: at least one verification token is required", ErrConfig)
	}
	if cfg.Tolerance < 0 {
		return nil, fmt.Errorf("%w: Feishu: Tolerance must not be negative", ErrConfig)
	}
	return &FeishuVerifier{cfg: cfg}, nil
}

func nonEmpty(in []string) []string {
	var out []string
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Verify implements Verifier (see Open).
func (v *FeishuVerifier) Verify(r *http.Request, body []byte) error {
	_, err := v.Open(r, body)
	return err
}

// Open authenticates a Feishu request and returns the plaintext event
// JSON. With EncryptKeys the body must be {"encrypt": "<base64>"}; its
// X-Lark-Signature = hex(sha256(timestamp + nonce + encryptKey + body))
// must match one key and the timestamp be within Tolerance. The one
// exception is the url_verification challenge, which Feishu sends unsigned
// (the official SDKs skip the signature for it): it is accepted when it
// decrypts with a key and carries a valid token. In every case the
// Verification Token in the body (v1 "token", v2 "header.token") must
// match, compared in constant time.
func (v *FeishuVerifier) Open(r *http.Request, body []byte) ([]byte, error) {
	plain := body
	signed := false
	if len(v.cfg.EncryptKeys) > 0 {
		var env struct {
			Encrypt string `json:"encrypt"`
		}
		if json.Unmarshal(body, &env) != nil || env.Encrypt == "" {
			return nil, fmt.Errorf("%w (an encrypted body is required)", ErrMissing)
		}
		key := ""
		if sig := r.Header.Get("X-Lark-Signature"); sig != "" {
			ts := r.Header.Get("X-Lark-Request-Timestamp")
			sec, err := strconv.ParseInt(ts, 10, 64)
			if err != nil {
				return nil, ErrMissing
			}
			got, err := hex.DecodeString(sig)
			if err != nil {
				return nil, ErrMissing
			}
			for _, k := range v.cfg.EncryptKeys {
				if hmac.Equal(got, FeishuSignature(ts, r.Header.Get("X-Lark-Request-Nonce"), k, body)) {
					key = k
					break
				}
			}
			if key == "" {
				return nil, ErrMismatch
			}
			if !within(v.cfg.Now(), time.Unix(sec, 0), v.cfg.Tolerance) {
				return nil, ErrExpired
			}
			signed = true
			var err2 error
			if plain, err2 = FeishuDecrypt(key, env.Encrypt); err2 != nil {
				return nil, fmt.Errorf("%w: %v", ErrMismatch, err2)
			}
		} else {
			var err error
			for _, k := range v.cfg.EncryptKeys {
				if plain, err = FeishuDecrypt(k, env.Encrypt); err == nil {
					break
				}
			}
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrMismatch, err)
			}
		}
	}
	var head struct {
		Type   string `json:"type"`
		Token  string `json:"token"`
		Header struct {
			Token string `json:"token"`
		} `json:"header"`
	}
	if err := json.Unmarshal(plain, &head); err != nil {
		return nil, fmt.Errorf("%w: body is not a JSON event", ErrMissing)
	}
	if len(v.cfg.EncryptKeys) > 0 && !signed && head.Type != "url_verification" {
		return nil, fmt.Errorf("%w (X-Lark-Signature is required for events)", ErrMissing)
	}
	token := cmp.Or(head.Header.Token, head.Token)
	ok := 0
	for _, t := range v.cfg.VerificationTokens {
		ok |= subtle.ConstantTimeCompare([]byte(token), []byte(t))
	}
	if ok != 1 {
		return nil, fmt.Errorf("%w: verification token", ErrMismatch)
	}
	return plain, nil
}

// FeishuSignature returns sha256(timestamp + nonce + encryptKey + body)
// (raw bytes; X-Lark-Signature carries its hex).
func FeishuSignature(ts, nonce, encryptKey string, body []byte) []byte {
	h := sha256.New()
	h.Write([]byte(ts + nonce + encryptKey))
	h.Write(body)
	return h.Sum(nil)
}

// FeishuDecrypt opens an "encrypt" value: base64 of a 16-byte IV followed
// by AES-256-CBC ciphertext (PKCS#7 padded) under the key sha256(encryptKey).
func FeishuDecrypt(encryptKey, encrypted string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(encrypted)
	if err != nil {
		return nil, errors.New("encrypt is not base64")
	}
	if len(raw) < 2*aes.BlockSize || len(raw)%aes.BlockSize != 0 {
		return nil, errors.New("encrypt has a bad length")
	}
	key := sha256.Sum256([]byte(encryptKey))
	block, _ := aes.NewCipher(key[:]) // 32-byte key: cannot fail
	out := make([]byte, len(raw)-aes.BlockSize)
	cipher.NewCBCDecrypter(block, raw[:aes.BlockSize]).CryptBlocks(out, raw[aes.BlockSize:])
	n := int(out[len(out)-1])
	if n < 1 || n > aes.BlockSize {
		return nil, errors.New("bad padding (wrong key?)")
	}
	for _, b := range out[len(out)-n:] {
		if int(b) != n {
			return nil, errors.New("bad padding (wrong key?)")
		}
	}
	return out[:len(out)-n], nil
}
