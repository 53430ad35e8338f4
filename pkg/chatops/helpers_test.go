package chatops

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// t0 is the tests' clock: the DingTalk and Feishu samples' createAt.
var t0 = time.UnixMilli(1777887600000).UTC()

const (
	slackSecret    = "8f742231b10e8888abcd99yyyzzz85a5"
	dingTalkSecret = "SECxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	feishuToken    = "v-token-1"
	feishuKey      = "encrypt-key-1"
)

func fixedNow() time.Time { return t0 }

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// slackRequest signs body as Slack does, at ts.
func slackRequest(secret string, ts time.Time, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/v1/chatops/slack", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	tsText := strconv.FormatInt(ts.Unix(), 10)
	r.Header.Set("X-Slack-Request-Timestamp", tsText)
	r.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(SlackSignature(secret, tsText, body)))
	return r
}

// dingTalkRequest signs as the DingTalk outgoing robot does, at ts.
func dingTalkRequest(secret string, ts time.Time, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/v1/chatops/dingtalk", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	tsText := strconv.FormatInt(ts.UnixMilli(), 10)
	r.Header.Set("timestamp", tsText)
	r.Header.Set("sign", base64.StdEncoding.EncodeToString(DingTalkSignature(secret, tsText)))
	return r
}

// feishuEncrypt encrypts plain as Feishu does (independent of
// FeishuDecrypt: the test's own AES-CBC with PKCS#7 and a fixed IV).
func feishuEncrypt(t testing.TB, key string, plain []byte) string {
	t.Helper()
	k := sha256.Sum256([]byte(key))
	block, err := aes.NewCipher(k[:])
	if err != nil {
		t.Fatal(err)
	}
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	p := append(append([]byte(nil), plain...), bytes.Repeat([]byte{byte(pad)}, pad)...)
	iv := []byte("0123456789abcdef")
	out := make([]byte, len(p))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(out, p)
	return base64.StdEncoding.EncodeToString(append(iv, out...))
}

// feishuRequest builds an event request; with key it encrypts and signs.
func feishuRequest(t testing.TB, key string, ts time.Time, plain []byte) *http.Request {
	t.Helper()
	body := plain
	if key != "" {
		body = []byte(`{"encrypt":"` + feishuEncrypt(t, key, plain) + `"}`)
	}
	r := httptest.NewRequest(http.MethodPost, "/v1/chatops/feishu", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if key != "" {
		tsText, nonce := strconv.FormatInt(ts.Unix(), 10), "nonce-123"
		r.Header.Set("X-Lark-Request-Timestamp", tsText)
		r.Header.Set("X-Lark-Request-Nonce", nonce)
		r.Header.Set("X-Lark-Signature", hex.EncodeToString(FeishuSignature(tsText, nonce, key, body)))
	}
	return r
}

func bodyOf(t testing.TB, r *http.Request) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := b.ReadFrom(r.Body); err != nil {
		t.Fatal(err)
	}
	r.Body = nopCloser{bytes.NewReader(b.Bytes())}
	return b.Bytes()
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// requestT wraps a request for table tests.
type requestT struct{ *http.Request }

func wrap(r *http.Request) *requestT { return &requestT{r} }

func contains(b []byte, s string) bool { return bytes.Contains(b, []byte(s)) }
