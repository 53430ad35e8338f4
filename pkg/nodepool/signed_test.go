package nodepool

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Secrets of the signed-envelope tests (the bytes after whsec_), used
// nowhere else.
var (
	signSecretA = []byte("nodepool-signed-test-secret-a-000")
	signSecretB = []byte("nodepool-signed-test-secret-b-000")
)

func signedFull(t *testing.T, caller string) *Envelope {
	t.Helper()
	env, err := NewEnvelope(mustDecode(t, "full.json"), "req_signed", SourceQueue, receivedAt, testSealer(t, testKeys, true))
	if err != nil {
		t.Fatal(err)
	}
	env.Caller = caller
	return env
}

// TestSignedEnvelope: a signed envelope verifies with its caller's key
// (any of several, for rotation) and with nothing else; changing any byte
// of what it covers — the envelope or the caller — breaks it.
func TestSignedEnvelope(t *testing.T) {
	t.Parallel()
	keyA, keyB := EnvelopeKey(signSecretA), EnvelopeKey(signSecretB)
	msg, err := signedFull(t, "portal-a").Sign(keyA)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSigned(msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Verify([][]byte{keyB, keyA}); err != nil {
		t.Errorf("rotation: %v", err)
	}
	if err := s.Verify([][]byte{keyB}); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("another caller's key: %v", err)
	}
	if err := s.Verify([][]byte{signSecretA}); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("the secret itself, not the derived key: %v", err)
	}
	if err := s.Verify(nil); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("no key: %v", err)
	}
	for name, mod := range map[string]func(s *SignedEnvelope){
		"caller": func(s *SignedEnvelope) { s.Caller = "team-b" },
		"envelope": func(s *SignedEnvelope) {
			s.Envelope = strings.Replace(s.Envelope, `"DesiredSize":3`, `"DesiredSize":30`, 1)
		},
		"spacing":   func(s *SignedEnvelope) { s.Envelope = " " + s.Envelope },
		"signature": func(s *SignedEnvelope) { s.Signature = strings.Replace(s.Signature, "=", "", 1) + "A=" },
		"prefix":    func(s *SignedEnvelope) { s.Signature = strings.TrimPrefix(s.Signature, "hmac-sha256=") },
	} {
		c := *s
		mod(&c)
		if c == *s {
			t.Fatalf("%s: the change did not apply", name)
		}
		if err := c.Verify([][]byte{keyA}); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s changed: %v", name, err)
		}
	}
	inner, signed, err := Unwrap(msg)
	if err != nil || signed == nil || string(inner) != s.Envelope {
		t.Fatalf("Unwrap: %v", err)
	}
	env, err := Parse(inner)
	if err != nil || env.Caller != "portal-a" {
		t.Fatalf("inner: %+v %v", env, err)
	}
	if plain, _ := signedFull(t, "").Marshal(); true {
		if inner, signed, err := Unwrap(plain); err != nil || signed != nil || string(inner) != string(plain) {
			t.Errorf("Unwrap of a version-1 envelope: %v", err)
		}
	}
	if _, err := signedFull(t, "").Sign(keyA); err == nil {
		t.Error("signed an envelope naming no caller")
	}
}

// TestSignedGolden is the test vector of the documented recipe: the
// signed form of full.json for caller portal-a with the secret
// "whsec_" + base64(signSecretA) is testdata/full.signed.json, and an
// independent HMAC over "v2.<Caller>.<Envelope>" with the derived key
// gives its Signature.
func TestSignedGolden(t *testing.T) {
	t.Parallel()
	msg, err := signedFull(t, "portal-a").Sign(EnvelopeKey(signSecretA))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "full.signed.json")
	if *update {
		if err := os.WriteFile(path, append(msg, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(want)) != string(msg) {
		t.Errorf("signed envelope differs from %s (run with -update to accept):\n%s", path, msg)
	}
	var s SignedEnvelope
	if err := json.Unmarshal(msg, &s); err != nil {
		t.Fatal(err)
	}
	k := hmac.New(sha256.New, signSecretA)
	k.Write([]byte("ens-nodepool envelope v2"))
	m := hmac.New(sha256.New, k.Sum(nil))
	m.Write([]byte("v2." + s.Caller + "." + s.Envelope))
	if s.Signature != "hmac-sha256="+base64.StdEncoding.EncodeToString(m.Sum(nil)) {
		t.Errorf("Signature %q is not the documented recipe's", s.Signature)
	}
	var sch map[string]any
	if err := json.Unmarshal(SignedSchema(), &sch); err != nil {
		t.Fatal(err)
	}
	if errs := schemaCheck(sch, sch, decodeAny(t, msg), ""); len(errs) > 0 {
		t.Errorf("the signed envelope does not match its schema: %v", errs)
	}
	props := sch["properties"].(map[string]any)
	for i := range reflect.TypeOf(SignedEnvelope{}).NumField() {
		if _, ok := props[jsonName(reflect.TypeOf(SignedEnvelope{}).Field(i))]; !ok || len(props) != reflect.TypeOf(SignedEnvelope{}).NumField() {
			t.Errorf("schema properties %v out of step with SignedEnvelope", props)
		}
	}
}

// TestParseSignedErrors: the wrapper is decoded as strictly as a request.
func TestParseSignedErrors(t *testing.T) {
	t.Parallel()
	msg, err := signedFull(t, "portal-a").Sign(EnvelopeKey(signSecretA))
	if err != nil {
		t.Fatal(err)
	}
	good := string(msg)
	for name, tt := range map[string]struct{ body, want string }{
		"unknown member":   {strings.Replace(good, `"Caller"`, `"X":1,"Caller"`, 1), "X"},
		"duplicate member": {strings.Replace(good, `"Caller":"portal-a"`, `"Caller":"portal-a","Caller":"team-b"`, 1), "Caller"},
		"bad caller":       {strings.Replace(good, `"Caller":"portal-a"`, `"Caller":"Portal A"`, 1), "Caller"},
		"no signature":     {strings.Replace(good, `"Signature":"`, `"Signature":"","X":"`, 1), "X"},
		"version 1":        {strings.Replace(good, `"Version":2`, `"Version":1`, 1), "unsupported envelope version 1"},
		"not an object":    {`[1]`, "is not a JSON object"},
	} {
		if _, err := ParseSigned([]byte(tt.body)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tt.want)
		}
	}
}

// TestRedactKeepsSignedEnvelopes: a dead-letter record's redaction keeps
// a signed envelope byte for byte when nothing in it is a password (so a
// redrive still verifies, whatever the producer's spacing), and masks a
// password inside it.
func TestRedactKeepsSignedEnvelopes(t *testing.T) {
	t.Parallel()
	inner, _ := signedFull(t, "portal-a").Marshal()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, inner, "", "  "); err != nil {
		t.Fatal(err)
	}
	s := SignedEnvelope{Version: VersionSigned, Caller: "portal-a", Envelope: pretty.String()}
	s.Signature = "hmac-sha256=" + base64.StdEncoding.EncodeToString(s.mac(EnvelopeKey(signSecretA)))
	msg, _ := json.Marshal(s)
	out, ok := RedactJSON(msg)
	if !ok {
		t.Fatal("not redacted")
	}
	back, err := ParseSigned(out)
	if err != nil || back.Envelope != s.Envelope || back.Verify([][]byte{EnvelopeKey(signSecretA)}) != nil {
		t.Errorf("redaction changed the signed envelope: %v", err)
	}
	s.Envelope = strings.Replace(s.Envelope, `"DesiredSize": 3`, `"DesiredSize": 3, "Password": "Sup3r-Secret"`, 1)
	msg, _ = json.Marshal(s)
	if out, ok := RedactJSON(msg); !ok || strings.Contains(string(out), "Sup3r-Secret") || !strings.Contains(string(out), Mask) {
		t.Errorf("a password inside a signed envelope: %s", out)
	}
}

// FuzzParseSigned: any message either fails to parse or parses to a
// wrapper that signs and verifies again under a key.
func FuzzParseSigned(f *testing.F) {
	for _, s := range []string{`{"Version":2,"Caller":"a","Envelope":"{}","Signature":"hmac-sha256=AAAA"}`, `{"Version":2}`, `{"Version":1}`} {
		f.Add([]byte(s))
	}
	key := EnvelopeKey(signSecretA)
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSigned(data)
		if err != nil {
			return
		}
		_ = s.Verify([][]byte{key})
		s.Signature = "hmac-sha256=" + base64.StdEncoding.EncodeToString(s.mac(key))
		if err := s.Verify([][]byte{key}); err != nil {
			t.Fatalf("re-signed wrapper does not verify: %v", err)
		}
	})
}
