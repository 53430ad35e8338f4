package nodepool

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

// testKeys are fixed keys for tests only.
const testKeys = "k2:AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=,k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="

// zeroReader makes nonces deterministic for golden files.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func testSealer(tb testing.TB, keys string, deterministic bool) *Sealer {
	tb.Helper()
	ks, err := ParseKeys(keys)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := NewSealer(ks)
	if err != nil {
		tb.Fatal(err)
	}
	if deterministic {
		s.rand = zeroReader{}
	}
	return s
}

var receivedAt = time.Date(2026, 3, 1, 12, 30, 45, 123456789, time.FixedZone("CST", 8*3600))

// TestEnvelopeGolden pins the public queue contract: the envelopes built
// from the examples match testdata/*.envelope.json byte for byte, parse
// back, and open to the original request.
func TestEnvelopeGolden(t *testing.T) {
	t.Parallel()
	s := testSealer(t, testKeys, true)
	for _, name := range []string{"ens-doc-example", "full", "ens-doc-required-only", "ens-doc-values-password"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			req := mustDecode(t, name+".json")
			env, err := NewEnvelope(req, RequestID("idem-"+name, ""), SourceWebhook, receivedAt, s)
			if err != nil {
				t.Fatal(err)
			}
			got, err := env.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, got, "", "  "); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')
			golden := filepath.Join("testdata", name+".envelope.json")
			if *update {
				if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if want := mustRead(t, name+".envelope.json"); !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("envelope differs from %s (run with -update):\n%s", golden, pretty.Bytes())
			}
			if bytes.Contains(got, []byte(req.ScalingGroup.Password)) && req.ScalingGroup.Password != "" {
				t.Error("envelope holds the password in clear")
			}
			back, err := Parse(pretty.Bytes())
			if err != nil {
				t.Fatalf("Parse(golden): %v", err)
			}
			if !back.ReceivedAt.Equal(receivedAt.Truncate(time.Millisecond)) || back.ReceivedAt.Location() != time.UTC {
				t.Errorf("ReceivedAt = %v", back.ReceivedAt)
			}
			opened, err := back.Open(s)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(opened, req) {
				t.Errorf("Open = %+v\nwant %+v", opened, req)
			}
			if err := NewValidator(ValidationConfig{}).Validate(opened); err != nil {
				t.Errorf("opened request invalid: %v", err)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	good := string(mustRead(t, "ens-doc-example.envelope.json"))
	tests := []struct {
		name, body string
		version    int64 // ≠ 0: want *UnsupportedVersionError with it
		field      string
	}{
		{"version 2", strings.Replace(good, `"Version": 1`, `"Version": 2`, 1), 2, ""},
		{"no version", strings.Replace(good, `"Version": 1,`, ``, 1), -1, ""},
		{"version string", strings.Replace(good, `"Version": 1`, `"Version": "1"`, 1), 0, "Version"},
		{"version float", strings.Replace(good, `"Version": 1`, `"Version": 1.5`, 1), 0, "Version"},
		{"unknown top", strings.Replace(good, `"Version": 1,`, `"Version": 1, "Extra": true,`, 1), 0, "Extra"},
		{"unknown nested", strings.Replace(good, `"Name": "p1"`, `"Name": "p1", "Id": "x"`, 1), 0, "Request.NodepoolInfo.Id"},
		{"clear password", strings.Replace(good, `"DesiredSize": 2,`, `"DesiredSize": 2, "Password": "Ab1!&=+ x",`, 1), 0, "Request.ScalingGroup.Password"},
		{"bad time", strings.Replace(good, `"2026-03-01T04:30:45.123Z"`, `"yesterday"`, 1), 0, "ReceivedAt"},
		{"bad source", strings.Replace(good, `"webhook"`, `"Web Hook"`, 1), 0, "Source"},
		{"bad sealed", strings.Replace(good, `"SealedPassword": "v1.`, `"SealedPassword": "v9.`, 1), 0, "SealedPassword"},
		{"bad request id", strings.Replace(good, `"RequestId": "req_`, `"RequestId": "req `, 1), 0, "RequestId"},
		{"not object", `[1]`, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.body == good && tt.name != "not object" {
				t.Fatal("replacement did not apply")
			}
			_, err := Parse([]byte(tt.body))
			if tt.version != 0 {
				var ue *UnsupportedVersionError
				want := max(tt.version, 0)
				if !errors.As(err, &ue) || !errors.Is(err, ErrUnsupportedVersion) || ue.Version != want {
					t.Fatalf("Parse error = %v, want unsupported version %d", err, want)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Parse error = %v, want *ValidationError", err)
			}
			if ve.Fields[0].Field != tt.field {
				t.Errorf("Parse fields = %+v, want %q", ve.Fields, tt.field)
			}
		})
	}
}

func TestSealer(t *testing.T) {
	t.Parallel()
	s := testSealer(t, testKeys, false)
	a, err := s.Seal("Ab1!&=+ x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.Seal("Ab1!&=+ x")
	if a == b {
		t.Error("two seals of the same plaintext are equal (nonce reuse)")
	}
	if !strings.HasPrefix(a, "v1.k2.") || !reSealed.MatchString(a) {
		t.Errorf("sealed form %q", a)
	}
	if got, err := s.Open(a); err != nil || got != "Ab1!&=+ x" {
		t.Errorf("Open = %q, %v", got, err)
	}

	// Rotation: a value sealed with the old key (k1 first) still opens
	// after k2 became the sealing key; a Sealer without k1 cannot open it.
	old := testSealer(t, "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=", false)
	o, _ := old.Seal("Rotate-me-1")
	if got, err := s.Open(o); err != nil || got != "Rotate-me-1" {
		t.Errorf("open old-key value: %q, %v", got, err)
	}
	only2 := testSealer(t, "k2:AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=", false)
	if _, err := only2.Open(o); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Open with retired key = %v, want ErrUnknownKey", err)
	}

	// Tampering and malformed values.
	raw := []byte(a)
	raw[len(raw)-3] ^= 1
	bad := []string{
		string(raw),
		strings.Replace(a, "v1.k2.", "v1.k1.", 1), // key id is authenticated
		"v1.k2.", "v1.k2", "v2.k2.AAAA", "", "v1.k2.!!!!", "v1..AAAA",
	}
	for _, v := range bad {
		if _, err := s.Open(v); !errors.Is(err, ErrSealBroken) && !errors.Is(err, ErrUnknownKey) {
			t.Errorf("Open(%q) = %v, want a seal error", v, err)
		}
	}

	// Secrets never print.
	ks, _ := ParseKeys(testKeys)
	for _, text := range []string{fmt.Sprint(ks), fmt.Sprintf("%#v %+v %v", ks[0], ks[0], s)} {
		if strings.Contains(text, "AgIC") || strings.Contains(text, "[2 2 2") || strings.Contains(text, "\\x02") {
			t.Errorf("key material printed: %s", text)
		}
	}
}

func TestParseKeys(t *testing.T) {
	t.Parallel()
	k32 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	url32 := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32))
	good := []string{"a:" + k32, "a:" + k32 + ", b_2:" + url32}
	for _, s := range good {
		if _, err := ParseKeys(s); err != nil {
			t.Errorf("ParseKeys(%q): %v", s, err)
		}
	}
	badKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 16))
	bad := []string{"", "a", "a:", ":" + k32, "a.b:" + k32, "a:" + badKey, "a:" + k32 + ",a:" + k32, "a:***"}
	for _, s := range bad {
		_, err := ParseKeys(s)
		if !errors.Is(err, ErrBadKeys) {
			t.Errorf("ParseKeys(%q) = %v, want ErrBadKeys", s, err)
		}
		if err != nil && strings.Contains(err.Error(), k32) {
			t.Errorf("error echoes key material: %v", err)
		}
	}
	if _, err := NewSealer(nil); !errors.Is(err, ErrBadKeys) {
		t.Errorf("NewSealer(nil) = %v", err)
	}
}

// TestSchema keeps envelope.schema.json in step with Envelope: every
// golden envelope validates, mutations that break the contract fail, and
// the schema's objects name exactly the Go structs' JSON fields.
func TestSchema(t *testing.T) {
	t.Parallel()
	var sch map[string]any
	if err := json.Unmarshal(Schema(), &sch); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	goldens, _ := filepath.Glob("testdata/*.envelope.json")
	if len(goldens) < 2 {
		t.Fatalf("goldens = %v", goldens)
	}
	for _, g := range goldens {
		doc := decodeAny(t, mustRead(t, filepath.Base(g)))
		if errs := schemaCheck(sch, sch, doc, ""); len(errs) > 0 {
			t.Errorf("%s does not match the schema: %v", g, errs)
		}
	}
	base := string(mustRead(t, "full.envelope.json"))
	mutations := map[string][2]string{
		"version":       {`"Version": 1`, `"Version": 2`},
		"unknown":       {`"Version": 1,`, `"Version": 1, "X": 1,`},
		"disk size":     {`"Size": 100`, `"Size": 105`},
		"charge type":   {`"PostPaid"`, `"Free"`},
		"cluster":       {`"eck-demo0001"`, `"cluster-1"`},
		"dup vswitch":   {`"vsw-demo0002"`, `"vsw-demo0001"`},
		"desired type":  {`"DesiredSize": 3`, `"DesiredSize": "3"`},
		"missing image": {`"ImageId": "m-6734fzvcwcv2o8jj201cpa7ox",`, ``},
		"password":      {`"DesiredSize": 3,`, `"DesiredSize": 3, "Password": "x",`},
	}
	for name, m := range mutations {
		mutated := strings.Replace(base, m[0], m[1], 1)
		if mutated == base {
			t.Fatalf("%s: mutation did not apply", name)
		}
		if errs := schemaCheck(sch, sch, decodeAny(t, []byte(mutated)), ""); len(errs) == 0 {
			t.Errorf("mutation %q passes the schema", name)
		}
	}
	// Field names in step with the Go types.
	defs := sch["$defs"].(map[string]any)
	checkProps := func(name string, node any, typ reflect.Type) {
		props := node.(map[string]any)["properties"].(map[string]any)
		var got, want []string
		for k := range props {
			got = append(got, k)
		}
		for i := range typ.NumField() {
			want = append(want, jsonName(typ.Field(i)))
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("schema %s properties = %q, Go fields = %q", name, got, want)
		}
	}
	reqProps := defs["Request"].(map[string]any)["properties"].(map[string]any)
	checkProps("Envelope", sch, reflect.TypeOf(Envelope{}))
	checkProps("Request", defs["Request"], reflect.TypeOf(Request{}))
	checkProps("ScalingGroup", defs["ScalingGroup"], reflect.TypeOf(ScalingGroup{}))
	checkProps("NodepoolInfo", reqProps["NodepoolInfo"], reflect.TypeOf(NodepoolInfo{}))
	checkProps("KubernetesConfig", reqProps["KubernetesConfig"], reflect.TypeOf(KubernetesConfig{}))
	checkProps("Callback", reqProps["Callback"], reflect.TypeOf(Callback{}))
	checkProps("DataDisk", defs["ScalingGroup"].(map[string]any)["properties"].(map[string]any)["DataDisks"].(map[string]any)["items"], reflect.TypeOf(DataDisk{}))
}

func decodeAny(tb testing.TB, b []byte) any {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		tb.Fatal(err)
	}
	return v
}

// schemaCheck is a small JSON Schema (2020-12) checker for the keywords the
// envelope schema uses: $ref (local), type, const, enum, properties,
// required, additionalProperties:false, items, minItems, maxItems,
// uniqueItems, pattern, minLength, maxLength, minimum, maximum, multipleOf.
// Unknown keywords fail loudly so the schema cannot outgrow the check.
func schemaCheck(root map[string]any, s map[string]any, v any, path string) []string {
	var errs []string
	fail := func(f string, a ...any) { errs = append(errs, path+": "+fmt.Sprintf(f, a...)) }
	for kw, arg := range s {
		switch kw {
		case "$schema", "$id", "title", "description", "format", "$defs":
		case "$ref":
			ref := strings.TrimPrefix(arg.(string), "#/$defs/")
			errs = append(errs, schemaCheck(root, root["$defs"].(map[string]any)[ref].(map[string]any), v, path)...)
		case "type":
			if !hasType(v, arg.(string)) {
				fail("want type %s", arg)
			}
		case "const":
			if fmt.Sprint(v) != fmt.Sprint(arg) {
				fail("want const %v", arg)
			}
		case "enum":
			if !slices.ContainsFunc(arg.([]any), func(e any) bool { return fmt.Sprint(e) == fmt.Sprint(v) }) {
				fail("not in enum")
			}
		case "properties":
			obj, ok := v.(map[string]any)
			if !ok {
				continue
			}
			props := arg.(map[string]any)
			for k, pv := range obj {
				if ps, ok := props[k]; ok {
					errs = append(errs, schemaCheck(root, ps.(map[string]any), pv, path+"."+k)...)
				} else if s["additionalProperties"] == false {
					fail("unknown property %s", k)
				}
			}
		case "additionalProperties":
			if arg != false {
				fail("unsupported additionalProperties")
			}
		case "required":
			if obj, ok := v.(map[string]any); ok {
				for _, k := range arg.([]any) {
					if _, ok := obj[k.(string)]; !ok {
						fail("missing %s", k)
					}
				}
			}
		case "items":
			for i, e := range asArray(v) {
				errs = append(errs, schemaCheck(root, arg.(map[string]any), e, fmt.Sprintf("%s[%d]", path, i))...)
			}
		case "minItems", "maxItems":
			if a, ok := v.([]any); ok {
				n := num(arg)
				if (kw == "minItems" && float64(len(a)) < n) || (kw == "maxItems" && float64(len(a)) > n) {
					fail("%s %v", kw, n)
				}
			}
		case "uniqueItems":
			a := asArray(v)
			seen := map[string]bool{}
			for _, e := range a {
				k := fmt.Sprint(e)
				if seen[k] {
					fail("duplicate item")
				}
				seen[k] = true
			}
		case "pattern":
			if str, ok := v.(string); ok && !regexp.MustCompile(arg.(string)).MatchString(str) {
				fail("does not match %s", arg)
			}
		case "minLength", "maxLength":
			if str, ok := v.(string); ok {
				n := float64(len([]rune(str)))
				if (kw == "minLength" && n < num(arg)) || (kw == "maxLength" && n > num(arg)) {
					fail("%s %v", kw, arg)
				}
			}
		case "minimum", "maximum", "multipleOf":
			jn, ok := v.(json.Number)
			if !ok {
				continue
			}
			x, _ := jn.Float64()
			n := num(arg)
			if (kw == "minimum" && x < n) || (kw == "maximum" && x > n) || (kw == "multipleOf" && math.Mod(x, n) != 0) {
				fail("%s %v", kw, n)
			}
		default:
			fail("schemaCheck does not support keyword %q", kw)
		}
	}
	return errs
}

func hasType(v any, typ string) bool {
	switch typ {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		_, err := n.Int64()
		return err == nil
	}
	return false
}

func asArray(v any) []any { a, _ := v.([]any); return a }

func num(v any) float64 {
	switch n := v.(type) {
	case float64:
		return n
	case json.Number:
		f, _ := n.Float64()
		return f
	}
	return math.NaN()
}
