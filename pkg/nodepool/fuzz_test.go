package nodepool

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// FuzzDecodeValidate: decoding and validating any body never panics, fails
// only with *ValidationError, and a valid request survives the envelope
// round trip (seal, marshal, parse, open) unchanged. Seeds:
// testdata/fuzz/FuzzDecodeValidate plus the examples.
func FuzzDecodeValidate(f *testing.F) {
	f.Add(mustRead(f, "ens-doc-example.json"))
	f.Add(mustRead(f, "full.json"))
	v := NewValidator(ValidationConfig{})
	s := testSealer(f, testKeys, false)
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := Decode(body)
		if err != nil {
			mustBeDecodeError(t, err)
			return
		}
		if err := v.Validate(req); err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Fields) == 0 {
				t.Fatalf("Validate error %T %v", err, err)
			}
			return
		}
		env, err := NewEnvelope(req, RequestID("", ""), SourceQueue, time.Unix(1, 0), s)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := env.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(msg)
		if err != nil {
			t.Fatalf("Parse(Marshal) = %v\n%s", err, msg)
		}
		opened, err := back.Open(s)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(req)
		got, _ := json.Marshal(opened)
		if !bytes.Equal(got, want) {
			t.Fatalf("round trip:\n got %s\nwant %s", got, want)
		}
		if err := v.Validate(opened); err != nil {
			t.Fatalf("opened request invalid: %v", err)
		}
	})
}

// FuzzParse: parsing any queue message never panics and fails only with
// the package's typed errors.
func FuzzParse(f *testing.F) {
	f.Add(mustRead(f, "ens-doc-example.envelope.json"))
	f.Add(mustRead(f, "full.envelope.json"))
	f.Add([]byte(`{"Version":2}`))
	s := testSealer(f, testKeys, false)
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnsupportedVersion) {
				t.Fatalf("Parse error %T %v", err, err)
			}
			return
		}
		if env.Request.ScalingGroup.Password != "" {
			t.Fatal("parsed envelope carries a clear password")
		}
		if _, err := env.Open(s); err != nil && !errors.Is(err, ErrSealBroken) && !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("Open error %v", err)
		}
	})
}

// mustBeDecodeError fails unless err is what Decode may fail with: a
// *ValidationError naming at least one field.
func mustBeDecodeError(t *testing.T, err error) {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) || len(ve.Fields) == 0 {
		t.Fatalf("Decode error %T %v", err, err)
	}
}
