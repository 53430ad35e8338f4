package callback

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// golden compares got with testdata/name, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s mismatch:\n got: %s\nwant: %s", name, got, want)
	}
}

// TestGoldenSignature pins the payload bytes and the signature for a fixed
// id, timestamp and secret, and checks library and spec implementation agree.
func TestGoldenSignature(t *testing.T) {
	t.Parallel()
	ev := sampleEvent()
	body, err := ev.Body()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "event_active.json", append(body, '\n'))

	id := ev.MessageID()
	ts := time.Unix(1777888888, 0)
	s, err := NewSigner(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.Headers(id, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, k := range []string{HeaderID, HeaderTimestamp, HeaderSignature} {
		buf.WriteString(k + ": " + h.Get(k) + "\n")
	}
	golden(t, "event_active.headers", buf.Bytes())

	if got, want := h.Get(HeaderSignature), specSign(t, testSecret, id, ts.Unix(), body); got != want {
		t.Errorf("library signature %q, spec implementation %q", got, want)
	}
}

func TestPayloadShape(t *testing.T) {
	t.Parallel()
	ev := sampleEvent()
	ev.Type = TypeFailed
	ev.Data.Error = &ErrorInfo{Code: "ENS.QuotaExceeded", Message: "quota <exceeded> & more"}
	ev.Timestamp = time.Date(2026, 5, 4, 18, 0, 0, 0, time.FixedZone("CST", 8*3600))
	body, err := ev.Body()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if got, want := len(m), 3; got != want {
		t.Errorf("top-level keys %d, want %d (type, timestamp, data): %s", got, want, body)
	}
	var tsStr string
	if err := json.Unmarshal(m["timestamp"], &tsStr); err != nil {
		t.Fatal(err)
	}
	if got, want := tsStr, "2026-05-04T10:00:00Z"; got != want {
		t.Errorf("timestamp %q, want %q (RFC 3339, UTC)", got, want)
	}
	if _, err := time.Parse(time.RFC3339, tsStr); err != nil {
		t.Errorf("timestamp not RFC 3339: %v", err)
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(m["data"], &data); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"RequestId", "ClusterId", "Name", "NodepoolId", "Status", "Error"} {
		if _, ok := data[k]; !ok {
			t.Errorf("data lacks %s: %s", k, body)
		}
	}
	if bytes.Contains(bytes.ToLower(body), []byte("password")) {
		t.Errorf("payload mentions a password: %s", body)
	}
	back, err := ParseEvent(body)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := back.Body()
	if !bytes.Equal(again, body) {
		t.Errorf("body not stable through a decode/encode round trip:\n%s\n%s", body, again)
	}
}

func TestMessageID(t *testing.T) {
	t.Parallel()
	a := MessageID("req-1", "np-1", TypeActive)
	if got := MessageID("req-1", "np-1", TypeActive); got != a {
		t.Errorf("not stable: %q vs %q", got, a)
	}
	if got, want := a, "msg_"; !strings.HasPrefix(got, want) || len(got) != 36 || strings.Contains(got, ".") {
		t.Errorf("MessageID = %q, want msg_ + 32 hex digits without '.'", got)
	}
	distinct := map[string]bool{a: true}
	for _, in := range [][3]string{
		{"req-1", "np-1", TypeFailed},
		{"req-1", "np-2", TypeActive},
		{"req-2", "np-1", TypeActive},
		{"req-1n", "p-1", TypeActive}, // no ambiguity from concatenation
		{"", "", ""},
	} {
		id := MessageID(in[0], in[1], in[2])
		if distinct[id] {
			t.Errorf("MessageID%q collides", in)
		}
		distinct[id] = true
	}
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	s, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewSigner(s); err != nil {
		t.Errorf("NewSecret() not accepted: %v", err)
	}
	for _, tc := range []struct {
		name    string
		secrets []string
	}{
		{"none", nil},
		{"no prefix", []string{strings.TrimPrefix(testSecret, "whsec_")}},
		{"not base64", []string{"whsec_!!!!"}},
		{"too short", []string{"whsec_c2hvcnQ="}},
		{"second bad", []string{testSecret, "whsec_c2hvcnQ="}},
	} {
		_, err := NewSigner(tc.secrets...)
		if !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", tc.name, err)
		}
		if err != nil && len(tc.secrets) > 0 && strings.Contains(err.Error(), strings.TrimPrefix(tc.secrets[len(tc.secrets)-1], "whsec_")) {
			t.Errorf("%s: error leaks the secret: %v", tc.name, err)
		}
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	other, _ := NewSecret()
	now := time.Unix(1777888888, 0)
	body := []byte(`{"type":"nodepool.active"}`)
	id := "msg_abc"
	sign := func(secrets []string, ts time.Time) http.Header {
		s, err := NewSigner(secrets...)
		if err != nil {
			t.Fatal(err)
		}
		h, err := s.Headers(id, ts, body)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	good := sign([]string{testSecret}, now)
	tests := []struct {
		name    string
		secrets []string
		h       http.Header
		body    []byte
		want    error
	}{
		{"valid", []string{testSecret}, good, body, nil},
		{"rotation: signed with both, verifier has new", []string{other}, sign([]string{testSecret, other}, now), body, nil},
		{"rotation: verifier holds old and new", []string{other, testSecret}, good, body, nil},
		{"wrong secret", []string{other}, good, body, ErrSignature},
		{"tampered body", []string{testSecret}, good, []byte(`{"type":"nodepool.failed"}`), ErrSignature},
		{"old", []string{testSecret}, sign([]string{testSecret}, now.Add(-6*time.Minute)), body, ErrTimestamp},
		{"future", []string{testSecret}, sign([]string{testSecret}, now.Add(6*time.Minute)), body, ErrTimestamp},
		{"edge of tolerance", []string{testSecret}, sign([]string{testSecret}, now.Add(-5*time.Minute)), body, nil},
		{"missing id", []string{testSecret}, without(good, HeaderID), body, ErrHeaders},
		{"missing signature", []string{testSecret}, without(good, HeaderSignature), body, ErrHeaders},
		{"bad timestamp", []string{testSecret}, with(good, HeaderTimestamp, "soon"), body, ErrHeaders},
		{"v1a only", []string{testSecret}, with(good, HeaderSignature, "v1a,"+strings.TrimPrefix(good.Get(HeaderSignature), "v1,")), body, ErrSignature},
		{"id changed", []string{testSecret}, with(good, HeaderID, "msg_other"), body, ErrSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, err := NewVerifier(VerifierConfig{Secrets: tc.secrets, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			err = v.Verify(tc.body, tc.h)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("Verify = %v, want %v", err, tc.want)
			}
			// The independent implementation agrees on the signature part.
			if tc.want == nil {
				ok := false
				for _, sec := range tc.secrets {
					ok = ok || specVerify(t, sec, tc.h, tc.body)
				}
				if !ok {
					t.Errorf("spec implementation rejects what Verify accepts")
				}
			}
		})
	}
}

func without(h http.Header, k string) http.Header {
	c := h.Clone()
	c.Del(k)
	return c
}

func with(h http.Header, k, v string) http.Header {
	c := h.Clone()
	c.Set(k, v)
	return c
}

// TestSignRotationHeader checks the multi-secret header shape.
func TestSignRotationHeader(t *testing.T) {
	t.Parallel()
	other, _ := NewSecret()
	s, err := NewSigner(testSecret, other)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(1777888888, 0)
	got, err := s.Sign("msg_x", ts, []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	want := specSign(t, testSecret, "msg_x", ts.Unix(), []byte("{}")) + " " + specSign(t, other, "msg_x", ts.Unix(), []byte("{}"))
	if got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
	if n := len(strings.Fields(got)); n != 2 {
		t.Errorf("%d signatures, want 2", n)
	}
}
