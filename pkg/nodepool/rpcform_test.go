package nodepool

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// shrink returns body in ENS's RPC form: each of NodepoolInfo,
// ScalingGroup and KubernetesConfig that is an object becomes a JSON
// string holding it, as the SDKs send them. ok is false when body is not
// a JSON object of distinct members.
func shrink(tb testing.TB, body []byte) (out []byte, ok bool) {
	tb.Helper()
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil || m == nil {
		return nil, false
	}
	for name := range rpcMembers {
		raw := bytes.TrimSpace(m[name])
		if len(raw) == 0 || raw[0] != '{' {
			continue
		}
		s, err := json.Marshal(string(raw))
		if err != nil {
			tb.Fatal(err)
		}
		m[name] = s
	}
	out, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return out, true
}

// TestDecodeRPCForm: a body in ENS's RPC form (the nested parameters as
// JSON strings, testdata/ens-doc-values-keypair.rpc.json as the SDKs
// send the ENS document's example) is the same request as the object
// form: the same decoded request, the same Digest, the same validation.
func TestDecodeRPCForm(t *testing.T) {
	t.Parallel()
	want := mustDecode(t, "ens-doc-values-keypair.json")
	got, err := Decode(mustRead(t, "ens-doc-values-keypair.rpc.json"))
	if err != nil {
		t.Fatalf("RPC form: %v", err)
	}
	if !reflect.DeepEqual(got, want) || Digest(got) != Digest(want) {
		t.Fatalf("RPC form decodes to %+v (digest %s), want %+v (digest %s)", got, Digest(got), want, Digest(want))
	}
	v := NewValidator(ValidationConfig{})
	for _, name := range []string{"ens-doc-example.json", "ens-doc-required-only.json", "ens-doc-values-password.json", "full.json"} {
		obj := mustRead(t, name)
		rpc, ok := shrink(t, obj)
		if !ok {
			t.Fatalf("%s is not an object", name)
		}
		a, errA := Decode(obj)
		b, errB := Decode(rpc)
		if errA != nil || errB != nil || !reflect.DeepEqual(a, b) || Digest(a) != Digest(b) {
			t.Errorf("%s: object form %+v %v, RPC form %+v %v", name, a, errA, b, errB)
			continue
		}
		if err := v.Validate(b); err != nil {
			t.Errorf("%s in the RPC form: %v", name, err)
		}
	}
}

// TestDecodeRPCFormErrors: what is wrong inside an RPC-form string is
// named by the same JSON path as in the object form; every member whose
// string holds no JSON object is listed, with the hint; the rules list
// every failing field; and the rest of the strict decoding still holds
// (duplicates, unknown members, trailing data).
func TestDecodeRPCFormErrors(t *testing.T) {
	t.Parallel()
	const sg = `"ScalingGroup":"{\"ImageId\":\"m-1\",\"InstanceTypes\":[\"ens.sn1.small\"],\"VswitchIds\":[\"vsw-1\"],\"KeyPairName\":\"kp1\"}"`
	decodeCases := []struct {
		name, body string
		fields     []string
	}{
		{"wrong type inside", `{"ClusterId":"eck-a","NodepoolInfo":"{\"Name\":\"p\"}","ScalingGroup":"{\"DesiredSize\":\"3\"}"}`,
			[]string{"ScalingGroup.DesiredSize"}},
		{"unknown member inside", `{"ClusterId":"eck-a","NodepoolInfo":"{\"Name\":\"p\",\"Id\":1}",` + sg + `}`, []string{"NodepoolInfo.Id"}},
		{"a zero DesiredSize inside", `{"ClusterId":"eck-a","NodepoolInfo":"{\"Name\":\"p\"}","ScalingGroup":"{\"DesiredSize\":0}"}`,
			[]string{"ScalingGroup.DesiredSize"}},
		{"strings that hold no object, each listed", `{"ClusterId":"eck-a","NodepoolInfo":"p1","ScalingGroup":"[]","KubernetesConfig":""}`,
			[]string{"NodepoolInfo", "ScalingGroup", "KubernetesConfig"}},
		{"a string that is not JSON", `{"ClusterId":"eck-a","NodepoolInfo":"{\"Name\":","ScalingGroup":{}}`, []string{"NodepoolInfo"}},
		{"a duplicate member", `{"ClusterId":"eck-a","NodepoolInfo":"{\"Name\":\"p\"}","NodepoolInfo":"{\"Name\":\"q\"}",` + sg + `}`,
			[]string{"NodepoolInfo"}},
		{"trailing data", `{"ClusterId":"eck-a","NodepoolInfo":"{\"Name\":\"p\"}",` + sg + `} {}`, []string{""}},
		{"Callback is not an RPC member", `{"ClusterId":"eck-a","NodepoolInfo":"{\"Name\":\"p\"}",` + sg + `,"Callback":"{\"Url\":\"https://a.example/\"}"}`,
			[]string{"Callback"}},
	}
	for _, c := range decodeCases {
		_, err := Decode([]byte(c.body))
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%s: Decode = %v, want a *ValidationError", c.name, err)
			continue
		}
		var got []string
		for _, f := range ve.Fields {
			got = append(got, f.Field)
			if strings.HasSuffix(c.name, "each listed") && f.Message != rpcHint {
				t.Errorf("%s: %s: %q, want the hint", c.name, f.Field, f.Message)
			}
		}
		if strings.Join(got, " ") != strings.Join(c.fields, " ") {
			t.Errorf("%s: fields %q, want %q (%v)", c.name, got, c.fields, err)
		}
	}

	// Decoded, the rules name every failing field of every member.
	body := `{"ClusterId":"ECK","NodepoolInfo":"{\"Name\":\"-p\"}","ScalingGroup":"{\"ImageId\":\"img\",\"InstanceTypes\":[\"ens.sn1.small\"],\"VswitchIds\":[\"vsw-1\"],\"KeyPairName\":\"kp1\",\"DesiredSize\":101}"}`
	r, err := Decode([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	var ve *ValidationError
	if err := NewValidator(ValidationConfig{}).Validate(r); !errors.As(err, &ve) {
		t.Fatalf("Validate = %v", err)
	}
	var got []string
	for _, f := range ve.Fields {
		got = append(got, f.Field)
	}
	want := []string{"ClusterId", "NodepoolInfo.Name", "ScalingGroup.DesiredSize", "ScalingGroup.ImageId"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("validation fields %q, want %q", got, want)
	}
}

// FuzzDecodeRPCForm fuzzes the decoder at the RPC-form boundary: any body
// decodes or fails with a *ValidationError naming at least one field,
// never panics; and a body that decodes is, in the RPC form, the same
// request with the same Digest and the same validation verdict. Seeds:
// testdata/fuzz/FuzzDecodeRPCForm plus the examples in both forms.
func FuzzDecodeRPCForm(f *testing.F) {
	for _, name := range []string{"ens-doc-values-keypair.json", "ens-doc-values-keypair.rpc.json", "ens-doc-example.json", "full.json"} {
		f.Add(mustRead(f, name))
	}
	f.Add([]byte(`{"ClusterId":"eck-a","NodepoolInfo":" {\"Name\":\"p\"} ","ScalingGroup":"{}","KubernetesConfig":"null"}`))
	f.Add([]byte(`{"NodepoolInfo" : "{\"Name\":\"a\\\"b\"}", "ScalingGroup":"{\"DesiredSize\":1e2}"}`))
	v := NewValidator(ValidationConfig{})
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := Decode(body)
		if err != nil {
			mustBeDecodeError(t, err)
			return
		}
		rpc, ok := shrink(t, body)
		if !ok {
			t.Fatalf("a body that decodes is not a JSON object: %q", body)
		}
		back, err := Decode(rpc)
		if err != nil {
			t.Fatalf("RPC form of a valid body: %v\n%s", err, rpc)
		}
		if !reflect.DeepEqual(back, req) || Digest(back) != Digest(req) {
			t.Fatalf("RPC form decodes differently:\n got %+v\nwant %+v", back, req)
		}
		if a, b := v.Validate(req), v.Validate(back); (a == nil) != (b == nil) || (a != nil && a.Error() != b.Error()) {
			t.Fatalf("validation differs: object form %v, RPC form %v", a, b)
		}
	})
}
