package nodepool_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ensnodepool/webhook/pkg/nodepool"
)

func TestIsPasswordName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"Password": true, "password": true, "PASSWORD": true, "pa\u017fsword": true, // ſ folds to s, as encoding/json matches
		"pass_word": true, "Pass-Word": true, "ScalingGroup.Password": true,
		"SealedPassword": false, "Passwords": false, "KeyPairName": false, "": false, "pass word": false,
	} {
		if got := nodepool.IsPasswordName(name); got != want {
			t.Errorf("IsPasswordName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestRedactJSON(t *testing.T) {
	t.Parallel()
	b64 := base64.StdEncoding.EncodeToString
	for _, tc := range []struct{ name, in, want string }{
		{"nested", `{"A":1,"ScalingGroup":{"Password":"p@ss\"w0rd","KeyPairName":"k"}}`, `{"A":1,"ScalingGroup":{"Password":"******","KeyPairName":"k"}}`},
		{"any case, any type", `{"password":12345678,"PASSWORD":null,"pa\u017fsword":{"a":[1]}}`, `{"password":"******","PASSWORD":"******","paſsword":"******"}`},
		{"escaped name", `{"Pass\u0077ord":"s1","\u0050\u0061\u0073\u0073\u0077\u006f\u0072\u0064":"s2"}`, `{"Password":"******","Password":"******"}`},
		{"duplicates", `{"Password":"s1","Password":"s2"}`, `{"Password":"******","Password":"******"}`},
		{"in arrays", `[[[{"x":[{"Password":"s"}]}]]]`, `[[[{"x":[{"Password":"******"}]}]]]`},
		{"sealed kept", `{"SealedPassword":"v1.k1.abc"}`, `{"SealedPassword":"v1.k1.abc"}`},
		{"json in a string", `{"messageBody":"{\"Password\":\"s\"}"}`, `{"messageBody":"{\"Password\":\"******\"}"}`},
		{"json in a string in a string", `"\"{\\\"Password\\\":\\\"s\\\"}\""`, `"\"{\\\"Password\\\":\\\"******\\\"}\""`},
		{"base64 json in a string", `{"messageBody":"` + b64([]byte(`{"Password":"s"}`)) + `"}`,
			`{"messageBody":"` + b64([]byte(`{"Password":"******"}`)) + `"}`},
		{"broken json in a string", `{"messageBody":"{\"Password\":\"s\""}`,
			`{"messageBody":"(withheld: 15 bytes that look like JSON but do not parse)"}`},
		{"plain strings kept", `{"a":"hello","b":"abcd","n":-1.5e3,"t":true}`, `{"a":"hello","b":"abcd","n":-1.5e3,"t":true}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := nodepool.RedactJSON([]byte(tc.in))
			if !ok || string(got) != tc.want {
				t.Errorf("RedactJSON(%s) = %s, %v; want %s", tc.in, got, ok, tc.want)
			}
		})
	}
	for _, in := range []string{
		`oops {"Password": "s", `,
		`{"Password":"s"} trailing`,
		`{"Password":"s"}{"Password":"s"}`,
		strings.Repeat("[", 100) + `{"Password":"s"}` + strings.Repeat("]", 100),
		``,
	} {
		if got, ok := nodepool.RedactJSON([]byte(in)); ok || got != nil {
			t.Errorf("RedactJSON(%.40s…) = %s, %v; want nothing, false", in, got, ok)
		}
	}
}

// marker stands for a password: it must never survive redaction.
const marker = "Zq8MarkerPw"

// leaks reports whether b holds marker: as is, or in any JSON string of b
// once decoded (escapes resolved), recursively, also through strict
// base64 — everywhere a reader of a dead letter could find it.
func leaks(b []byte, depth int) bool {
	if bytes.Contains(b, []byte(marker)) {
		return true
	}
	if depth > 8 {
		return false
	}
	if raw, err := base64.StdEncoding.Strict().DecodeString(string(bytes.TrimSpace(b))); err == nil && len(raw) > 0 && leaks(raw, depth+1) {
		return true
	}
	var v any
	if json.Unmarshal(b, &v) != nil {
		return false
	}
	var walk func(v any) bool
	walk = func(v any) bool {
		switch v := v.(type) {
		case string:
			return leaks([]byte(v), depth+1)
		case []any:
			for _, e := range v {
				if walk(e) {
					return true
				}
			}
		case map[string]any:
			for k, e := range v {
				if strings.Contains(k, marker) || walk(e) {
					return true
				}
			}
		}
		return false
	}
	return walk(v)
}

// passwordNames are member names that encoding/json decodes into a field
// named Password.
var passwordNames = []string{`Password`, `password`, `PASSWORD`, `Pass\u0077ord`, `\u0050assword`, `pa\u017fsword`, `PA\u017FSWORD`,
	`\u0070\u0061\u0073\u0073\u0077\u006f\u0072\u0064`}

// FuzzRedactJSON puts the marker as the value of password members — under
// a fuzzed name that encoding/json itself would decode into a Password
// field (escaped, any case encoding/json folds), twice (duplicates), next
// to fuzzed filler, nested in fuzzed depths of arrays and objects, inside
// a JSON string or base64 of one, or cut short (malformed) — and asserts
// the marker never survives in any form.
func FuzzRedactJSON(f *testing.F) {
	f.Add(`Password`, `{"a":1}`, uint8(0), uint8(0))
	f.Add(`Pass\u0077ord`, `[1,"x",null]`, uint8(40), uint8(1))
	f.Add(`pa\u017fsword`, `"{\"a\":1}"`, uint8(3), uint8(2))
	f.Add(`PASSWORD`, `{"a":`, uint8(1), uint8(3))
	f.Add(`x`, `true`, uint8(70), uint8(0))
	f.Add(`\u0050assword`, `"e1wiUGFzc3dvcmRcIjoxfQ=="`, uint8(5), uint8(5))
	f.Fuzz(func(t *testing.T, key, filler string, depth, wrap uint8) {
		var probe struct{ Password string }
		var plain string
		if json.Unmarshal([]byte(`"`+key+`"`), &plain) != nil ||
			json.Unmarshal([]byte(`{"`+key+`":"x"}`), &probe) != nil || probe.Password != "x" {
			key = passwordNames[int(depth)%len(passwordNames)]
		}
		if strings.Contains(strings.ToLower(filler), "markerpw") || leaks([]byte(filler), 0) {
			return // the filler itself spells the marker: not a password
		}
		doc := `{"` + key + `":"` + marker + `","Filler":` + filler + `,"ScalingGroup":{"` + key + `":["` + marker + `"]}}`
		for i := range int(depth % 80) {
			if i%2 == 0 {
				doc = `[` + doc + `]`
			} else {
				doc = `{"n":` + doc + `}`
			}
		}
		switch wrap % 6 {
		case 1: // the document as a JSON string
			s, _ := json.Marshal(doc)
			doc = `{"messageBody":` + string(s) + `}`
		case 2: // the document base64-encoded in a string
			doc = `{"messageBody":"` + base64.StdEncoding.EncodeToString([]byte(doc)) + `"}`
		case 3: // cut short
			doc = doc[:len(doc)-1]
		case 4: // garbage after it
			doc += ` ` + filler
		case 5: // a JSON string in a JSON string
			s, _ := json.Marshal(doc)
			s, _ = json.Marshal(string(s))
			doc = `[` + string(s) + `]`
		}
		out, ok := nodepool.RedactJSON([]byte(doc))
		if !ok {
			if out != nil {
				t.Fatalf("RedactJSON failed but returned %q", out)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("RedactJSON(%q) = %q: not JSON", doc, out)
		}
		if leaks(out, 0) {
			t.Fatalf("the marker survived:\nin:  %s\nout: %s", doc, out)
		}
	})
}

// TestExpandJSON: JSON held in strings, directly or as base64, is written
// as JSON, redacted; a string that looks like JSON but does not parse is
// the withheld note; other strings stay.
func TestExpandJSON(t *testing.T) {
	t.Parallel()
	in := `{"a":"{\"Password\":\"x\",\"b\":[1]}","c":"eyJQYXNzd29yZCI6InkifQ==","d":"{bad","e":"plain"}`
	want := `{"a":{"Password":"******","b":[1]},"c":{"Password":"******"},"d":"(withheld: 4 bytes that look like JSON but do not parse)","e":"plain"}`
	if got, ok := nodepool.ExpandJSON([]byte(in)); !ok || string(got) != want {
		t.Errorf("ExpandJSON = %s %v\nwant %s", got, ok, want)
	}
	if _, ok := nodepool.ExpandJSON([]byte(`{"a":1} x`)); ok {
		t.Error("trailing data accepted")
	}
}
