package api_test

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/ens"
	"github.com/ensnodepool/webhook/pkg/intake"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// The code tables of the document are checked against the code, both
// ways, so neither can drift: pkg/intake/problem.go (the problem codes and
// their statuses), pkg/callback/codes.go (the callback error codes and
// event types) and nodepool.SpecDiff (the fields a conflict names).

// intakeCodes is pkg/intake's one table: every problem code and the HTTP
// status it is answered with.
func intakeCodes(tb testing.TB) map[string]int {
	tb.Helper()
	out := map[string]int{}
	for code, status := range intake.Statuses() {
		out[string(code)] = status
	}
	if len(out) == 0 {
		tb.Fatal("intake.Statuses is empty")
	}
	return out
}

// problemResponses returns, for every response component whose content is
// application/problem+json, the status it states (status: const) and the
// codes it allows (code: const or enum), as written.
func problemResponses(tb testing.TB, raw map[string]any) map[string]struct {
	status int
	codes  []string
} {
	tb.Helper()
	out := map[string]struct {
		status int
		codes  []string
	}{}
	for name, r := range raw["components"].(map[string]any)["responses"].(map[string]any) {
		schema, err := resolve(r, "#/content/application~1problem+json/schema")
		if err != nil {
			continue
		}
		props, _ := schema.(map[string]any)["properties"].(map[string]any)
		status, _ := resolve(props, "#/status/const")
		code, _ := props["code"].(map[string]any)
		var codes []string
		if c, ok := code["const"].(string); ok {
			codes = []string{c}
		}
		for _, c := range asList(code["enum"]) {
			codes = append(codes, c.(string))
		}
		s, _ := status.(float64)
		if s == 0 || len(codes) == 0 {
			tb.Errorf("response %s: a problem response must state status (const) and code (const or enum)", name)
			continue
		}
		out[name] = struct {
			status int
			codes  []string
		}{int(s), codes}
	}
	return out
}

func asList(v any) []any { l, _ := v.([]any); return l }

func strs(v any) []string {
	var out []string
	for _, x := range asList(v) {
		out = append(out, x.(string))
	}
	return out
}

// TestProblemCodesMatchIntake: ProblemCode lists exactly the codes of
// pkg/intake/problem.go plus the planned ones (x-planned), no planned code
// exists there yet, every problem response maps its codes to the status
// codeStatus gives them, every code has a response, and every operation
// answers each problem response under its own status.
func TestProblemCodesMatchIntake(t *testing.T) {
	t.Parallel()
	raw := rawDoc(t)
	want := intakeCodes(t)
	pc, _ := resolve(raw, "#/components/schemas/ProblemCode")
	enum, planned := strs(pc.(map[string]any)["enum"]), strs(pc.(map[string]any)["x-planned"])
	for _, c := range planned {
		if _, ok := want[c]; ok {
			t.Errorf("ProblemCode: %q is in pkg/intake/problem.go now: drop it from x-planned", c)
		}
	}
	all := slices.Sorted(maps.Keys(want))
	all = append(all, planned...)
	slices.Sort(all)
	if got := slices.Sorted(slices.Values(enum)); !slices.Equal(got, all) {
		t.Errorf("ProblemCode enum = %v\nwant problem.go's codes + x-planned = %v", got, all)
	}
	answered := map[string]bool{}
	responses := problemResponses(t, raw)
	for name, r := range responses {
		for _, c := range r.codes {
			answered[c] = true
			if !slices.Contains(enum, c) {
				t.Errorf("response %s: code %q is not in ProblemCode", name, c)
			}
			if s, ok := want[c]; ok && s != r.status {
				t.Errorf("response %s: code %q with status %d; problem.go answers it with %d", name, c, r.status, s)
			}
		}
	}
	for _, c := range enum {
		if !answered[c] {
			t.Errorf("code %q has no problem response", c)
		}
	}
	// Each operation lists a problem response under the status it states.
	walkRefs(raw["paths"], "#/paths", func(ref, at string) {
		name, ok := strings.CutPrefix(ref, "#/components/responses/")
		r, isProblem := responses[name]
		if !ok || !isProblem {
			return
		}
		if key := at[strings.LastIndex(at, "/")+1:]; key != strconv.Itoa(r.status) {
			t.Errorf("%s: %s answers status %d under %q", at, name, r.status, key)
		}
	})
}

// TestCallbackCodesMatchCallback: ServiceErrorCode is callback.Codes, in
// its order; the event types and the webhooks are callback's Type*
// constants; each webhook's body schema is for its own type.
func TestCallbackCodesMatchCallback(t *testing.T) {
	t.Parallel()
	raw := rawDoc(t)
	sec, _ := resolve(raw, "#/components/schemas/ServiceErrorCode/enum")
	if got := strs(sec); !slices.Equal(got, callback.Codes) {
		t.Errorf("ServiceErrorCode = %v\nwant callback.Codes = %v", got, callback.Codes)
	}
	timeout, _ := resolve(raw, "#/components/schemas/TimeoutEventData/allOf/2/properties/Error/properties/Code/const")
	if timeout != callback.CodeNodepoolTimeout {
		t.Errorf("nodepool.timeout Error.Code = %v, want %q", timeout, callback.CodeNodepoolTimeout)
	}
	types := []string{callback.TypeCreating, callback.TypeActive, callback.TypeFailed, callback.TypeTimeout}
	et, _ := resolve(raw, "#/components/schemas/EventType/enum")
	if got := strs(et); !slices.Equal(got, types) {
		t.Errorf("EventType = %v, want %v", got, types)
	}
	hooks := raw["webhooks"].(map[string]any)
	if got := slices.Sorted(maps.Keys(hooks)); !slices.Equal(got, slices.Sorted(slices.Values(types))) {
		t.Errorf("webhooks = %v, want %v", got, types)
	}
	doc := loadDoc(t)
	for _, typ := range types {
		body := doc.Webhooks[typ].Post.RequestBody.Value.Content.Get("application/json")
		for _, other := range types {
			ev := clone(t, body.Example).(map[string]any)
			ev["type"] = other
			err := validateExample(example{schema: body.Schema.Value, value: ev})
			if (err == nil) != (other == typ) {
				t.Errorf("webhook %s: a body of type %s matches: %v", typ, other, err == nil)
			}
		}
	}
}

// TestDifferenceFieldsMatchSpecDiff: Difference.Field lists the fields
// nodepool.SpecDiff compares, in its order: a request that differs from a
// pool in everything names each of them.
func TestDifferenceFieldsMatchSpecDiff(t *testing.T) {
	t.Parallel()
	req := &nodepool.Request{
		ScalingGroup: nodepool.ScalingGroup{
			DesiredSize: 2, ImageId: "m-a", InstanceTypes: []string{"ens.a.a"}, VswitchIds: []string{"vsw-a"},
			InstanceChargeType: "PostPaid", KeyPairName: "ka", SystemDiskCategory: "cloud_ssd", SystemDiskSize: 20,
			DataDisks: []nodepool.DataDisk{{Category: "cloud_ssd", Size: 20}},
		},
		KubernetesConfig: &nodepool.KubernetesConfig{PreUserData: "YQ==", UserData: "YQ=="},
	}
	pool := &ens.NodePool{
		ScalingGroup: ens.ScalingGroup{
			ImageId: "m-b", InstanceTypes: []string{"ens.b.b"}, VswitchIds: []string{"vsw-b"},
			InstanceChargeType: "PrePaid", KeyPairName: "kb", SystemDiskCategory: "local_ssd", SystemDiskSize: 30,
			DataDisks: []ens.DataDisk{{Category: "local_ssd", Size: 30}},
		},
		KubernetesConfig: &ens.KubernetesConfig{PreUserData: "Yg==", UserData: "Yg=="},
		Status:           ens.NodePoolStatus{DesiredNodes: 3},
	}
	fields, _ := resolve(rawDoc(t), "#/components/schemas/Difference/properties/Field/enum")
	if got, want := strs(fields), nodepool.SpecDiff(req, pool); !slices.Equal(got, want) {
		t.Errorf("Difference.Field = %v\nwant SpecDiff's fields %v", got, want)
	}
}
