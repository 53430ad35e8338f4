package api_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/ensnodepool/webhook/api"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// The request schema against the webhook's own decoding and validation
// (pkg/nodepool): the ENS document's example is the example, and the
// schema accepts and refuses what the service accepts and refuses, except
// where a rule cannot be a schema (listed below with the reason).

func nodepoolTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "pkg", "nodepool", "testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func requestSchema(tb testing.TB) (*openapi3.Schema, openapi3.Examples) {
	tb.Helper()
	mt := loadDoc(tb).Paths.Value("/v1/nodepools").Post.RequestBody.Value.Content.Get("application/json")
	return mt.Schema.Value, mt.Examples
}

// TestRequestExamplesAreENSDocument: the examples named ensDoc* are the
// bodies built from the ENS document's example values that pkg/nodepool
// tests and pins (testdata/ens-doc-*.json), and every request example is
// accepted by the service's decoding and rules.
func TestRequestExamplesAreENSDocument(t *testing.T) {
	t.Parallel()
	_, exs := requestSchema(t)
	for name, file := range map[string]string{
		"ensDocKeyPair": "ens-doc-values-keypair.json", "ensDocPassword": "ens-doc-values-password.json",
		"ensDocRequiredOnly": "ens-doc-required-only.json",
	} {
		ex, ok := exs[name]
		if !ok {
			t.Errorf("no example %s", name)
			continue
		}
		var want any
		if err := json.Unmarshal(nodepoolTestdata(t, file), &want); err != nil {
			t.Fatal(err)
		}
		if got, want := canonical(t, ex.Value.Value), canonical(t, want); got != want {
			t.Errorf("example %s differs from pkg/nodepool/testdata/%s:\n got %s\nwant %s", name, file, got, want)
		}
	}
	v := nodepool.NewValidator(nodepool.ValidationConfig{})
	for name, ex := range exs {
		r, err := nodepool.Decode([]byte(canonical(t, ex.Value.Value)))
		if err == nil {
			err = v.Validate(r)
		}
		if err != nil {
			t.Errorf("example %s is refused by the service: %v", name, err)
		}
	}
}

func canonical(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v) // maps sort their keys
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// TestRequestTestdataMatchesSchema: every request body pkg/nodepool tests
// as valid matches the schema.
func TestRequestTestdataMatchesSchema(t *testing.T) {
	t.Parallel()
	schema, _ := requestSchema(t)
	for _, name := range []string{"ens-doc-example.json", "full.json", "ens-doc-values-keypair.json",
		"ens-doc-values-password.json", "ens-doc-required-only.json", "ens-doc-values-keypair.rpc.json"} {
		var body any
		if err := json.Unmarshal(nodepoolTestdata(t, name), &body); err != nil {
			t.Fatal(err)
		}
		if err := schema.VisitJSON(body, openapi3.EnableJSONSchema2020()); err != nil {
			t.Errorf("%s: kin-openapi: %v", name, err)
		}
		if err := matchesRequestSchema(t, nodepoolTestdata(t, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// requestValidator is CreateNodePoolRequest compiled once with the JSON
// Schema 2020-12 validator kin-openapi uses for 3.1 documents
// (santhosh-tekuri/jsonschema/v6), over the whole document so its $refs
// resolve. (kin-openapi compiles a schema anew for every value, which
// would make the tables below slow.)
var requestValidator = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(mustJSONDoc()))
	if err != nil {
		return nil, err
	}
	const url = "https://example.invalid/openapi.json"
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertContent() // the RPC form's strings are checked against their contentSchema
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	return c.Compile(url + "#/components/schemas/CreateNodePoolRequest")
})

func mustJSONDoc() []byte {
	b, err := api.JSON()
	if err != nil {
		panic(err) // TestJSONIsTheDocument says why
	}
	return b
}

// matchesRequestSchema validates a JSON body against CreateNodePoolRequest.
func matchesRequestSchema(tb testing.TB, body []byte) error {
	tb.Helper()
	s, err := requestValidator()
	if err != nil {
		tb.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		tb.Fatalf("test body is not JSON: %v", err)
	}
	return s.Validate(v)
}

var serviceValidator = nodepool.NewValidator(nodepool.ValidationConfig{})

// verdicts runs body through the service's decoding and rules (default
// configuration) and through the schema.
func verdicts(tb testing.TB, body []byte) (serviceErr, schemaErr error) {
	tb.Helper()
	r, serviceErr := nodepool.Decode(body)
	if serviceErr == nil {
		serviceErr = serviceValidator.Validate(r)
	}
	return serviceErr, matchesRequestSchema(tb, body)
}

// mutate returns the ENS document's key-pair body changed by f, which gets
// the body, its ScalingGroup and its NodepoolInfo.
func mutate(tb testing.TB, f func(body, sg, info map[string]any)) []byte {
	tb.Helper()
	var body map[string]any
	if err := json.Unmarshal(nodepoolTestdata(tb, "ens-doc-values-keypair.json"), &body); err != nil {
		tb.Fatal(err)
	}
	f(body, body["ScalingGroup"].(map[string]any), body["NodepoolInfo"].(map[string]any))
	b, err := json.Marshal(body)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func list(n int, f func(i int) string) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

func password(sg map[string]any, p string) { delete(sg, "KeyPairName"); sg["Password"] = p }

// TestRequestSchemaAgreesWithService: each body is accepted by both or
// refused by both.
func TestRequestSchemaAgreesWithService(t *testing.T) {
	t.Parallel()
	big := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{'x'}, nodepool.MaxUserData))
	tooBig := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{'x'}, nodepool.MaxUserData+1))
	tooBig2 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{'x'}, nodepool.MaxUserData+2))
	disks := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = map[string]any{"Category": "cloud_ssd", "Size": 20}
		}
		return out
	}
	cases := []struct {
		name  string
		f     func(body, sg, info map[string]any)
		valid bool
	}{
		{"as documented", func(_, _, _ map[string]any) {}, true},
		{"DesiredSize 100", func(_, sg, _ map[string]any) { sg["DesiredSize"] = 100 }, true},
		{"DesiredSize absent", func(_, sg, _ map[string]any) { delete(sg, "DesiredSize") }, true},
		{"disk sizes at the limits", func(_, sg, _ map[string]any) {
			sg["SystemDiskSize"] = 2040 // 2048 is the limit, and sizes are multiples of 10
			sg["DataDisks"] = []any{map[string]any{"Size": 32760}, map[string]any{"Category": "local_hdd", "Size": 20}, map[string]any{}}
		}, true},
		{"16 data disks", func(_, sg, _ map[string]any) { sg["DataDisks"] = disks(16) }, true},
		{"Name of 63", func(_, _, info map[string]any) { info["Name"] = strings.Repeat("a", 63) }, true},
		{"Name with _ and -", func(_, _, info map[string]any) { info["Name"] = "A_b-1" }, true},
		{"10 vSwitches", func(_, sg, _ map[string]any) {
			sg["VswitchIds"] = list(10, func(i int) string { return "vsw-" + string(rune('a'+i)) })
		}, true},
		{"Password of 8", func(_, sg, _ map[string]any) { password(sg, "12345678") }, true},
		{"Password of 30 with space", func(_, sg, _ map[string]any) { password(sg, "a b"+strings.Repeat("c", 27)) }, true},
		{"KeyPairName not ASCII", func(_, sg, _ map[string]any) { sg["KeyPairName"] = "Schlüssel:1" }, true},
		{"UserData of 16 KiB", func(body, _, _ map[string]any) { body["KubernetesConfig"] = map[string]any{"UserData": big} }, true},
		{"no KubernetesConfig", func(body, _, _ map[string]any) { delete(body, "KubernetesConfig") }, true},
		{"Callback with port and query", func(body, _, _ map[string]any) {
			body["Callback"] = map[string]any{"Url": "https://hooks.example.com:8443/ens?team=a"}
		}, true},

		{"DesiredSize 0 stated", func(_, sg, _ map[string]any) { sg["DesiredSize"] = 0 }, false},
		{"DesiredSize 101", func(_, sg, _ map[string]any) { sg["DesiredSize"] = 101 }, false},
		{"DesiredSize a string", func(_, sg, _ map[string]any) { sg["DesiredSize"] = "3" }, false},
		{"DesiredSize past int32", func(_, sg, _ map[string]any) { sg["DesiredSize"] = 1 << 31 }, false},
		{"SystemDiskSize 25", func(_, sg, _ map[string]any) { sg["SystemDiskSize"] = 25 }, false},
		{"SystemDiskSize 10", func(_, sg, _ map[string]any) { sg["SystemDiskSize"] = 10 }, false},
		{"SystemDiskSize 2050", func(_, sg, _ map[string]any) { sg["SystemDiskSize"] = 2050 }, false},
		{"data disk 32770", func(_, sg, _ map[string]any) { sg["DataDisks"] = []any{map[string]any{"Size": 32770}} }, false},
		{"17 data disks", func(_, sg, _ map[string]any) { sg["DataDisks"] = disks(17) }, false},
		{"data disk member unknown", func(_, sg, _ map[string]any) { sg["DataDisks"] = []any{map[string]any{"Type": "x"}} }, false},
		{"disk category unknown", func(_, sg, _ map[string]any) { sg["SystemDiskCategory"] = "ssd" }, false},
		{"ClusterId upper case", func(body, _, _ map[string]any) { body["ClusterId"] = "ECK-1" }, false},
		{"ClusterId bare prefix", func(body, _, _ map[string]any) { body["ClusterId"] = "eck-" }, false},
		{"ClusterId of 65", func(body, _, _ map[string]any) { body["ClusterId"] = "eck-" + strings.Repeat("a", 61) }, false},
		{"ClusterId absent", func(body, _, _ map[string]any) { delete(body, "ClusterId") }, false},
		{"Name empty", func(_, _, info map[string]any) { info["Name"] = "" }, false},
		{"Name of 64", func(_, _, info map[string]any) { info["Name"] = strings.Repeat("a", 64) }, false},
		{"Name starting with -", func(_, _, info map[string]any) { info["Name"] = "-a" }, false},
		{"Name with a dot", func(_, _, info map[string]any) { info["Name"] = "a.b" }, false},
		{"NodepoolInfo absent", func(body, _, _ map[string]any) { delete(body, "NodepoolInfo") }, false},
		{"no vSwitch", func(_, sg, _ map[string]any) { sg["VswitchIds"] = []any{} }, false},
		{"11 vSwitches", func(_, sg, _ map[string]any) {
			sg["VswitchIds"] = list(11, func(i int) string { return "vsw-" + string(rune('a'+i)) })
		}, false},
		{"vSwitch twice", func(_, sg, _ map[string]any) { sg["VswitchIds"] = []any{"vsw-a", "vsw-a"} }, false},
		{"vSwitch id malformed", func(_, sg, _ map[string]any) { sg["VswitchIds"] = []any{"vsw_a"} }, false},
		{"instance type malformed", func(_, sg, _ map[string]any) { sg["InstanceTypes"] = []any{"ens.sn1"} }, false},
		{"ImageId malformed", func(_, sg, _ map[string]any) { sg["ImageId"] = "img-1" }, false},
		{"ImageId absent", func(_, sg, _ map[string]any) { delete(sg, "ImageId") }, false},
		{"charge type unknown", func(_, sg, _ map[string]any) { sg["InstanceChargeType"] = "Free" }, false},
		{"KeyPairName and Password", func(_, sg, _ map[string]any) { sg["Password"] = "12345678" }, false},
		{"neither KeyPairName nor Password", func(_, sg, _ map[string]any) { delete(sg, "KeyPairName") }, false},
		{"Password of 7", func(_, sg, _ map[string]any) { password(sg, "1234567") }, false},
		{"Password of 31", func(_, sg, _ map[string]any) { password(sg, strings.Repeat("a", 31)) }, false},
		{"Password not ASCII", func(_, sg, _ map[string]any) { password(sg, "pässword1") }, false},
		{"Password with a tab", func(_, sg, _ map[string]any) { password(sg, "pass\tword") }, false},
		{"KeyPairName starting with a digit", func(_, sg, _ map[string]any) { sg["KeyPairName"] = "1key" }, false},
		{"KeyPairName of 1", func(_, sg, _ map[string]any) { sg["KeyPairName"] = "k" }, false},
		{"UserData not base64", func(body, _, _ map[string]any) { body["KubernetesConfig"] = map[string]any{"UserData": "not base64!"} }, false},
		{"UserData unpadded", func(body, _, _ map[string]any) { body["KubernetesConfig"] = map[string]any{"PreUserData": "YQ"} }, false},
		{"UserData over 16 KiB", func(body, _, _ map[string]any) { body["KubernetesConfig"] = map[string]any{"UserData": tooBig} }, false},
		{"UserData over 16 KiB by 2", func(body, _, _ map[string]any) { body["KubernetesConfig"] = map[string]any{"UserData": tooBig2} }, false},
		{"member unknown", func(body, _, _ map[string]any) { body["Tags"] = []any{} }, false},
		{"ScalingGroup member unknown", func(_, sg, _ map[string]any) { sg["Tags"] = []any{} }, false},
		{"member in the wrong case", func(body, _, _ map[string]any) { body["clusterId"] = body["ClusterId"]; delete(body, "ClusterId") }, false},
		{"Callback without Url", func(body, _, _ map[string]any) { body["Callback"] = map[string]any{} }, false},
		{"Callback ftp", func(body, _, _ map[string]any) { body["Callback"] = map[string]any{"Url": "ftp://hooks.example.com/"} }, false},
		{"Callback with user info", func(body, _, _ map[string]any) {
			body["Callback"] = map[string]any{"Url": "https://u:p@hooks.example.com/"}
		}, false},
		{"Callback with fragment", func(body, _, _ map[string]any) {
			body["Callback"] = map[string]any{"Url": "https://hooks.example.com/#x"}
		}, false},
		{"Callback with a space in the host", func(body, _, _ map[string]any) { body["Callback"] = map[string]any{"Url": "https://a b/"} }, false},
		{"Callback with a control character", func(body, _, _ map[string]any) { body["Callback"] = map[string]any{"Url": "https://a.example/\n"} }, false},
		{"Callback relative", func(body, _, _ map[string]any) { body["Callback"] = map[string]any{"Url": "/ens"} }, false},
		{"Callback.Format (chatops only)", func(body, _, _ map[string]any) {
			body["Callback"] = map[string]any{"Url": "https://hooks.example.com/", "Format": "slack"}
		}, false},
	}
	for _, c := range cases {
		body := mutate(t, c.f)
		serviceErr, schemaErr := verdicts(t, body)
		if (serviceErr == nil) != c.valid || (schemaErr == nil) != c.valid {
			t.Errorf("%s: want valid=%v; service: %v; schema: %v", c.name, c.valid, serviceErr, schemaErr)
		}
		// The same body in ENS's RPC form (nested objects as JSON
		// strings) gets the same verdicts.
		serviceErr, schemaErr = verdicts(t, rpcForm(t, body))
		if (serviceErr == nil) != c.valid || (schemaErr == nil) != c.valid {
			t.Errorf("%s in the RPC form: want valid=%v; service: %v; schema: %v", c.name, c.valid, serviceErr, schemaErr)
		}
	}
	for _, bad := range []string{`"p1"`, `"[]"`, `""`, `"{\"Name\":"`} {
		body := mutate(t, func(body, _, _ map[string]any) { body["NodepoolInfo"] = json.RawMessage(bad) })
		if serviceErr, schemaErr := verdicts(t, body); serviceErr == nil || schemaErr == nil {
			t.Errorf("NodepoolInfo %s: want refused; service: %v; schema: %v", bad, serviceErr, schemaErr)
		}
	}
}

// rpcForm returns body with NodepoolInfo, ScalingGroup and
// KubernetesConfig, where they are objects, as JSON strings holding them:
// ENS's RPC form, as the SDKs send them.
func rpcForm(tb testing.TB, body []byte) []byte {
	tb.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		tb.Fatal(err)
	}
	for _, name := range []string{"NodepoolInfo", "ScalingGroup", "KubernetesConfig"} {
		if raw, ok := m[name]; ok && len(raw) > 0 && raw[0] == '{' {
			s, _ := json.Marshal(string(raw))
			m[name] = s
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// TestRequestSchemaKnownDifferences pins where the schema and the service
// differ, and why, so a change on either side shows here.
func TestRequestSchemaKnownDifferences(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, why           string
		f                   func(body, sg, info map[string]any)
		serviceOK, schemaOK bool
	}{
		{"http callback", "deployment-dependent: only the local stack allows http (the schema allows both)",
			func(body, _, _ map[string]any) { body["Callback"] = map[string]any{"Url": "http://hooks.example.com/"} }, false, true},
		{"callback to a private address", "the SSRF guard's address ranges are not a pattern",
			func(body, _, _ map[string]any) { body["Callback"] = map[string]any{"Url": "https://10.0.0.1/"} }, false, true},
		{"null member", "the service reads null as absent; the schema asks for no nulls",
			func(body, _, _ map[string]any) { body["KubernetesConfig"] = nil }, true, false},
		{"empty KeyPairName beside Password", "the service reads an empty string as absent; the schema refuses it",
			func(_, sg, _ map[string]any) { sg["KeyPairName"] = ""; sg["Password"] = "12345678" }, true, false},
	}
	for _, c := range cases {
		serviceErr, schemaErr := verdicts(t, mutate(t, c.f))
		if (serviceErr == nil) != c.serviceOK || (schemaErr == nil) != c.schemaOK {
			t.Errorf("%s (%s): want service ok=%v, schema ok=%v; got service: %v; schema: %v",
				c.name, c.why, c.serviceOK, c.schemaOK, serviceErr, schemaErr)
		}
	}
}
