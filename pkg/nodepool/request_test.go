package nodepool

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ensnodepool/webhook/pkg/ens"
)

func mustRead(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func mustDecode(tb testing.TB, name string) *Request {
	tb.Helper()
	r, err := Decode(mustRead(tb, name))
	if err != nil {
		tb.Fatalf("Decode(%s): %v", name, err)
	}
	return r
}

// TestExamplesValid: the ENS documentation's captured example and a full
// request decode and pass every rule.
func TestExamplesValid(t *testing.T) {
	t.Parallel()
	v := NewValidator(ValidationConfig{})
	for _, name := range []string{"ens-doc-example.json", "full.json"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := mustDecode(t, name)
			if err := v.Validate(r); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

// TestENSConversion: ENS() carries every field under the API's names, so
// the ENS request marshals to the body minus Callback.
func TestENSConversion(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"ens-doc-example.json", "full.json"} {
		body := mustRead(t, name)
		r := mustDecode(t, name)
		var want map[string]any
		if err := json.Unmarshal(body, &want); err != nil {
			t.Fatal(err)
		}
		delete(want, "Callback")
		b, err := json.Marshal(r.ENS())
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: ENS() = %s\nwant %v", name, b, want)
		}
		// The conversion copies slices.
		e := r.ENS()
		e.ScalingGroup.VswitchIds[0] = "changed"
		if r.ScalingGroup.VswitchIds[0] == "changed" {
			t.Errorf("%s: ENS() shares VswitchIds with the request", name)
		}
	}
}

func TestRedacted(t *testing.T) {
	t.Parallel()
	r := mustDecode(t, "ens-doc-example.json")
	red := r.Redacted()
	if got, want := red.ScalingGroup.Password, Mask; got != want {
		t.Errorf("Redacted password = %q, want %q", got, want)
	}
	if r.ScalingGroup.Password == Mask {
		t.Error("Redacted changed the original")
	}
	p := MaskPool(ens.NodePool{ScalingGroup: ens.ScalingGroup{Password: "Secret123!"}})
	if p.ScalingGroup.Password != Mask {
		t.Errorf("MaskPool password = %q", p.ScalingGroup.Password)
	}
}

// TestDecodeStrict covers the decoder's own errors and their paths. The
// handler tests run the large table of invalid bodies.
func TestDecodeStrict(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, field, msg string
	}{
		{"empty", ``, "", "truncated"},
		{"top null", `null`, "", "must be a JSON object"},
		{"top array", `[]`, "", "must be a JSON object"},
		{"trailing object", `{}{}`, "", "nothing after it"},
		{"trailing junk", `{} x`, "", "nothing after it"},
		{"unknown", `{"Foo":1}`, "Foo", "not a known field"},
		{"empty member name", `{"ScalingGroup":{"":1}}`, "ScalingGroup.", "not a known field"},
		{"case mismatch", `{"clusterid":"eck-a"}`, "clusterid", "not a known field"},
		{"duplicate", `{"ClusterId":"eck-a","ClusterId":"eck-b"}`, "ClusterId", "more than once"},
		{"nested unknown", `{"ScalingGroup":{"DataDisks":[{"Size":20},{"Sise":20}]}}`, "ScalingGroup.DataDisks[1].Sise", "not a known field"},
		{"int overflow", `{"ScalingGroup":{"DataDisks":[{},{"Size":2147483648}]}}`, "ScalingGroup.DataDisks[1].Size", "out of range"},
		{"float", `{"ScalingGroup":{"DesiredSize":2.5}}`, "ScalingGroup.DesiredSize", "must be an integer"},
		{"exponent", `{"ScalingGroup":{"DesiredSize":1e2}}`, "ScalingGroup.DesiredSize", "must be an integer"},
		{"string for int", `{"ScalingGroup":{"DesiredSize":"3"}}`, "ScalingGroup.DesiredSize", "must be an integer"},
		{"int for string", `{"ClusterId":1}`, "ClusterId", "must be a string"},
		{"object for array", `{"ScalingGroup":{"VswitchIds":{}}}`, "ScalingGroup.VswitchIds", "must be a JSON array"},
		{"null element", `{"ScalingGroup":{"VswitchIds":["vsw-a",null]}}`, "ScalingGroup.VswitchIds[1]", "must not be null"},
		{"syntax", `{"ClusterId": }`, "ClusterId", "not valid JSON"},
		{"truncated", `{"ClusterId": "eck-a"`, "", "truncated"},
		{"bad utf8", "{\"ClusterId\":\"\xff\"}", "", "UTF-8"},
		{"deep", `{"ScalingGroup":{"DataDisks":[[[[]]]]}}`, "ScalingGroup.DataDisks[0]", "must be a JSON object"},
		{"chat format is chatops-only", `{"Callback":{"Url":"https://hooks.slack.com/x","Format":"slack"}}`, "Callback.Format", "not a known field"},
		{"chat expiry is chatops-only", `{"Callback":{"Url":"https://hooks.slack.com/x","ExpiresAt":"2026-05-04T10:00:00Z"}}`, "Callback.ExpiresAt", "not a known field"},
		{"chat format unknown", `{"Callback":{"Url":"https://hooks.slack.com/x","Format":"irc"}}`, "Callback.Format", "not a known field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Decode([]byte(tt.body))
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode(%s) error = %v, want *ValidationError", tt.body, err)
			}
			if len(ve.Fields) != 1 || ve.Fields[0].Field != tt.field || !strings.Contains(ve.Fields[0].Message, tt.msg) {
				t.Errorf("Decode(%s) = %+v, want field %q with %q", tt.body, ve.Fields, tt.field, tt.msg)
			}
		})
	}
	// Null members count as absent.
	r, err := Decode([]byte(`{"ClusterId":null,"KubernetesConfig":null,"Callback":null}`))
	if err != nil || r.ClusterId != "" || r.KubernetesConfig != nil || r.Callback != nil {
		t.Errorf("null members: %+v, %v", r, err)
	}
}

// TestValidateRules mutates a valid request and checks the failing paths.
func TestValidateRules(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 65)
	tests := []struct {
		name   string
		cfg    ValidationConfig
		mutate func(r *Request)
		fields []string
	}{
		{"valid", ValidationConfig{}, func(r *Request) {}, nil},
		{"empty", ValidationConfig{}, func(r *Request) { *r = Request{} },
			[]string{"ClusterId", "NodepoolInfo.Name", "ScalingGroup.Password", "ScalingGroup.VswitchIds", "ScalingGroup.InstanceTypes", "ScalingGroup.ImageId"}},
		{"both credentials", ValidationConfig{}, func(r *Request) { r.ScalingGroup.KeyPairName = "ops-key" }, []string{"ScalingGroup.KeyPairName"}},
		{"cluster id upper", ValidationConfig{}, func(r *Request) { r.ClusterId = "eck-ABC" }, []string{"ClusterId"}},
		{"cluster id long", ValidationConfig{}, func(r *Request) { r.ClusterId = "eck-" + long }, []string{"ClusterId"}},
		{"name dot", ValidationConfig{}, func(r *Request) { r.NodepoolInfo.Name = "a.b" }, []string{"NodepoolInfo.Name"}},
		{"name 64", ValidationConfig{}, func(r *Request) { r.NodepoolInfo.Name = long[:64] }, []string{"NodepoolInfo.Name"}},
		{"name 63", ValidationConfig{}, func(r *Request) { r.NodepoolInfo.Name = long[:63] }, nil},
		{"desired 101", ValidationConfig{}, func(r *Request) { r.ScalingGroup.DesiredSize = 101 }, []string{"ScalingGroup.DesiredSize"}},
		{"desired 200 allowed", ValidationConfig{MaxDesiredSize: 200}, func(r *Request) { r.ScalingGroup.DesiredSize = 200 }, nil},
		{"desired negative", ValidationConfig{}, func(r *Request) { r.ScalingGroup.DesiredSize = -1 }, []string{"ScalingGroup.DesiredSize"}},
		{"disk 25", ValidationConfig{}, func(r *Request) { r.ScalingGroup.DataDisks[0].Size = 25 }, []string{"ScalingGroup.DataDisks[0].Size"}},
		{"system disk 4096", ValidationConfig{}, func(r *Request) { r.ScalingGroup.SystemDiskSize = 4096 }, []string{"ScalingGroup.SystemDiskSize"}},
		{"data disk 4000", ValidationConfig{}, func(r *Request) { r.ScalingGroup.DataDisks[0].Size = 4000 }, nil},
		{"data disk without size or category (optional in the document)", ValidationConfig{}, func(r *Request) {
			r.ScalingGroup.DataDisks = []DataDisk{{Category: "cloud_ssd"}, {Size: 40}}
		}, nil},
		{"data disk 32770", ValidationConfig{}, func(r *Request) { r.ScalingGroup.DataDisks[0].Size = 32770 }, []string{"ScalingGroup.DataDisks[0].Size"}},
		{"dup vswitch", ValidationConfig{}, func(r *Request) { r.ScalingGroup.VswitchIds = []string{"vsw-1", "vsw-1"} }, []string{"ScalingGroup.VswitchIds"}},
		{"bad vswitch item", ValidationConfig{}, func(r *Request) { r.ScalingGroup.VswitchIds = []string{"vsw-1", "sw-2"} }, []string{"ScalingGroup.VswitchIds[1]"}},
		{"http callback", ValidationConfig{}, func(r *Request) { r.Callback = &Callback{Url: "http://127.0.0.1:9/cb"} }, []string{"Callback.Url"}},
		{"http callback allowed", ValidationConfig{AllowHTTPCallback: true}, func(r *Request) { r.Callback = &Callback{Url: "http://hooks.example.com:9/cb"} }, nil},
		{"loopback callback", ValidationConfig{AllowHTTPCallback: true}, func(r *Request) { r.Callback = &Callback{Url: "http://127.0.0.1:9/cb"} }, []string{"Callback.Url"}},
		{"loopback callback allowed", ValidationConfig{AllowHTTPCallback: true, CallbackAllow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
			func(r *Request) { r.Callback = &Callback{Url: "http://127.0.0.1:9/cb"} }, nil},
		{"metadata callback", ValidationConfig{}, func(r *Request) { r.Callback = &Callback{Url: "https://100.100.100.200/latest"} }, []string{"Callback.Url"}},
		{"callback port 0", ValidationConfig{}, func(r *Request) { r.Callback = &Callback{Url: "https://example.com:0/cb"} }, []string{"Callback.Url"}},
		{"callback port 70000", ValidationConfig{}, func(r *Request) { r.Callback = &Callback{Url: "https://example.com:70000/cb"} }, []string{"Callback.Url"}},
		{"callback empty port", ValidationConfig{}, func(r *Request) { r.Callback = &Callback{Url: "https://example.com:/cb"} }, []string{"Callback.Url"}},
		{"callback port 65535", ValidationConfig{}, func(r *Request) { r.Callback = &Callback{Url: "https://example.com:65535/cb"} }, nil},
		{"callback ftp", ValidationConfig{}, func(r *Request) { r.Callback = &Callback{Url: "ftp://example.com/cb"} }, []string{"Callback.Url"}},
		{"callback userinfo", ValidationConfig{}, func(r *Request) { r.Callback = &Callback{Url: "https://u:p@example.com/"} }, []string{"Callback.Url"}},
		{"callback fragment", ValidationConfig{}, func(r *Request) { r.Callback = &Callback{Url: "https://example.com/#x"} }, []string{"Callback.Url"}},
		{"callback relative", ValidationConfig{}, func(r *Request) { r.Callback = &Callback{Url: "/cb"} }, []string{"Callback.Url"}},
		{"callback empty", ValidationConfig{}, func(r *Request) { r.Callback = &Callback{} }, []string{"Callback.Url"}},
		{"callback chat format", ValidationConfig{}, func(r *Request) { r.Callback = &Callback{Url: "https://hooks.slack.com/commands/1", Format: "slack"} }, nil},
		{"callback bad chat format", ValidationConfig{}, func(r *Request) { r.Callback = &Callback{Url: "https://hooks.slack.com/commands/1", Format: "irc"} }, []string{"Callback.Format"}},
		{"userdata 16KiB", ValidationConfig{}, func(r *Request) {
			r.KubernetesConfig.UserData = strings.Repeat("QUFB", MaxUserData/3) + "QQ=="
		}, nil},
		{"userdata too big", ValidationConfig{}, func(r *Request) {
			r.KubernetesConfig.PreUserData = strings.Repeat("QUFB", MaxUserData/3+1)
		}, []string{"KubernetesConfig.PreUserData"}},
		{"several", ValidationConfig{}, func(r *Request) {
			r.ScalingGroup.InstanceChargeType = "Free"
			r.ScalingGroup.DataDisks = append(r.ScalingGroup.DataDisks, DataDisk{Category: "ssd", Size: 10})
		}, []string{"ScalingGroup.InstanceChargeType", "ScalingGroup.DataDisks[1].Category", "ScalingGroup.DataDisks[1].Size"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := mustDecode(t, "ens-doc-example.json")
			tt.mutate(r)
			err := NewValidator(tt.cfg).Validate(r)
			var got []string
			if err != nil {
				var ve *ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("Validate error = %T %v", err, err)
				}
				for _, f := range ve.Fields {
					got = append(got, f.Field)
					if f.Message == "" || strings.Contains(f.Message, "invalid (") {
						t.Errorf("%s: no readable message: %q", f.Field, f.Message)
					}
				}
			}
			if !slices.Equal(got, tt.fields) {
				t.Errorf("failing fields = %q, want %q (err %v)", got, tt.fields, err)
			}
		})
	}
}

func TestValidPassword(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		"Ab1!&=+ x":                     true,
		"some-test-password":            true,  // CreateClusterNodePool's documented example
		"abcdefgh":                      true,  // classes are left to ENS
		"ab!D":                          false, // short
		"Abcdef1\t":                     false, // control character
		"Abcdef1é":                      false, // non-ASCII
		strings.Repeat("aB3", 10):       true,  // 30
		strings.Repeat("aB3", 10) + "x": false, // 31
		`aA()` + "`~!@#$%^&*-_+=|{}[]:;'<>,.?/"[:20]: true,
	}
	for pw, want := range tests {
		if got := ValidPassword(pw); got != want {
			t.Errorf("ValidPassword(%q) = %v, want %v", pw, got, want)
		}
	}
}

func TestValidatePoolKey(t *testing.T) {
	t.Parallel()
	v := NewValidator(ValidationConfig{})
	if err := v.ValidatePoolKey("eck-demo0001", "pool-1"); err != nil {
		t.Errorf("valid key: %v", err)
	}
	err := v.ValidatePoolKey("ECK-1", "bad name")
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v", err)
	}
	var got []string
	for _, f := range ve.Fields {
		got = append(got, f.Field)
	}
	if want := []string{"ClusterId", "NodepoolInfo.Name"}; !slices.Equal(got, want) {
		t.Errorf("fields = %q, want %q", got, want)
	}
}

func TestSpecDiff(t *testing.T) {
	t.Parallel()
	req := mustDecode(t, "full.json")
	base := ens.NodePool{Status: ens.NodePoolStatus{DesiredNodes: 3},
		KubernetesConfig: &ens.KubernetesConfig{PreUserData: "IyEvYmluL3NoCmVjaG8gcHJlCg==", UserData: "ZWNobyBvawo="},
		ScalingGroup: ens.ScalingGroup{
			ImageId:            "m-6734fzvcwcv2o8jj201cpa7ox",
			InstanceTypes:      []string{"ens.sn1.medium", "ens.sn1.small"},
			VswitchIds:         []string{"vsw-demo0002", "vsw-demo0001"},
			InstanceChargeType: "PostPaid",
			KeyPairName:        "ops-key",
			Password:           "******",
			SystemDiskCategory: "cloud_efficiency",
			SystemDiskSize:     80,
			DataDisks:          []ens.DataDisk{{Category: "local_hdd", Size: 500}, {Category: "cloud_ssd", Size: 100}},
		}}
	tests := []struct {
		name   string
		mutate func(p *ens.NodePool)
		want   []string
	}{
		{"same, other order", func(p *ens.NodePool) {}, nil},
		{"desired size", func(p *ens.NodePool) { p.Status.DesiredNodes = 2 }, []string{"ScalingGroup.DesiredSize"}},
		{"user data", func(p *ens.NodePool) { p.KubernetesConfig = &ens.KubernetesConfig{UserData: "ZWNobyBvawo="} },
			[]string{"KubernetesConfig.PreUserData"}},
		{"no kubernetes config reported", func(p *ens.NodePool) { p.KubernetesConfig = nil },
			[]string{"KubernetesConfig.PreUserData", "KubernetesConfig.UserData"}},
		{"image", func(p *ens.NodePool) { p.ScalingGroup.ImageId = "m-other" }, []string{"ScalingGroup.ImageId"}},
		{"types", func(p *ens.NodePool) { p.ScalingGroup.InstanceTypes = []string{"ens.sn1.small"} }, []string{"ScalingGroup.InstanceTypes"}},
		{"vswitch", func(p *ens.NodePool) { p.ScalingGroup.VswitchIds = []string{"vsw-demo0001", "vsw-x"} }, []string{"ScalingGroup.VswitchIds"}},
		{"disks", func(p *ens.NodePool) { p.ScalingGroup.DataDisks[0].Size = 510 }, []string{"ScalingGroup.DataDisks"}},
		{"one disk fewer", func(p *ens.NodePool) { p.ScalingGroup.DataDisks = p.ScalingGroup.DataDisks[:1] }, []string{"ScalingGroup.DataDisks"}},
		{"key pair", func(p *ens.NodePool) { p.ScalingGroup.KeyPairName = "" }, []string{"ScalingGroup.KeyPairName"}},
		{"charge + system disk", func(p *ens.NodePool) {
			p.ScalingGroup.InstanceChargeType = "PrePaid"
			p.ScalingGroup.SystemDiskSize = 40
		}, []string{"ScalingGroup.InstanceChargeType", "ScalingGroup.SystemDiskSize"}},
	}
	for _, tt := range tests {
		p := base
		p.ScalingGroup.DataDisks = slices.Clone(base.ScalingGroup.DataDisks)
		tt.mutate(&p)
		if got := SpecDiff(req, &p); !slices.Equal(got, tt.want) {
			t.Errorf("%s: SpecDiff = %q, want %q", tt.name, got, tt.want)
		}
		if got, want := SameSpec(req, &p), tt.want == nil; got != want {
			t.Errorf("%s: SameSpec = %v, want %v", tt.name, got, want)
		}
	}
	// Defaults: an empty scalar in the request matches what ENS chose.
	r2 := req.Clone()
	r2.ScalingGroup.SystemDiskCategory, r2.ScalingGroup.SystemDiskSize, r2.ScalingGroup.InstanceChargeType = "", 0, ""
	r2.ScalingGroup.DesiredSize, r2.ScalingGroup.DataDisks, r2.KubernetesConfig = 0, nil, nil
	if d := SpecDiff(r2, &base); d != nil {
		t.Errorf("defaults: SpecDiff = %q", d)
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	a, b := RequestID("key-1", "msg_1"), RequestID("key-1", "msg_2")
	if a != b {
		t.Errorf("Idempotency-Key does not win: %s != %s", a, b)
	}
	if RequestID("", "msg_1") != RequestID("", "msg_1") {
		t.Error("webhook-id not stable")
	}
	if RequestID("x", "") == RequestID("", "x") {
		t.Error("key and webhook-id share a namespace")
	}
	if RequestID("", "") == RequestID("", "") {
		t.Error("random ids repeat")
	}
	for _, id := range []string{a, RequestID("", "")} {
		if !reRequestID.MatchString(id) || len(id) != 30 || !strings.HasPrefix(id, "req_") {
			t.Errorf("bad id form %q", id)
		}
	}
	// Pinned: changing the derivation would break idempotency across deploys.
	if got, want := RequestID("key-1", ""), pinnedRequestID; got != want {
		t.Errorf("RequestID(key-1) = %s, want %s", got, want)
	}
}

const pinnedRequestID = "req_igvbflm6z34npzwapgebklo4k4"

// TestSpecDiffPartlyStatedDisks: a data disk's Category or Size left out
// matches what ENS chose; fully stated disks are matched first.
func TestSpecDiffPartlyStatedDisks(t *testing.T) {
	t.Parallel()
	pool := &ens.NodePool{ScalingGroup: ens.ScalingGroup{KeyPairName: "k",
		DataDisks: []ens.DataDisk{{Category: "cloud_ssd", Size: 100}, {Category: "cloud_efficiency", Size: 100}}}}
	req := func(d ...DataDisk) *Request {
		return &Request{ScalingGroup: ScalingGroup{KeyPairName: "k", DataDisks: d}}
	}
	for _, tt := range []struct {
		name  string
		disks []DataDisk
		same  bool
	}{
		{"sizes only", []DataDisk{{Size: 100}, {Size: 100}}, true},
		{"partial first in the list, exact second", []DataDisk{{Size: 100}, {Category: "cloud_ssd", Size: 100}}, true},
		{"category only, wrong", []DataDisk{{Category: "local_hdd"}, {Size: 100}}, false},
		{"too few", []DataDisk{{Size: 100}}, false},
	} {
		if got := SameSpec(req(tt.disks...), pool); got != tt.same {
			t.Errorf("%s: SameSpec = %v, want %v", tt.name, got, tt.same)
		}
	}
}

// TestDifferencesValues: each difference carries the requested value and
// the one ENS reports, as JSON a dry run shows (lists ENS leaves out are
// [], not null; DesiredSize is compared with Status.DesiredNodes).
func TestDifferencesValues(t *testing.T) {
	t.Parallel()
	req := mustDecode(t, "full.json")
	pool := ens.NodePool{Status: ens.NodePoolStatus{DesiredNodes: 5}, ScalingGroup: ens.ScalingGroup{
		ImageId: "m-6734fzvcwcv2o8jj201cpa7ox", InstanceTypes: []string{"ens.sn1.small"}, KeyPairName: "ops-key",
		SystemDiskCategory: "cloud_efficiency", SystemDiskSize: 80, InstanceChargeType: "PostPaid",
		DataDisks: []ens.DataDisk{{Category: "local_hdd", Size: 500}, {Category: "cloud_ssd", Size: 100}}},
		KubernetesConfig: &ens.KubernetesConfig{PreUserData: "IyEvYmluL3NoCmVjaG8gcHJlCg==", UserData: "ZWNobyBvawo="}}
	b, err := json.Marshal(Differences(req, &pool))
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"Field":"ScalingGroup.DesiredSize","Requested":3,"Found":5},` +
		`{"Field":"ScalingGroup.InstanceTypes","Requested":["ens.sn1.small","ens.sn1.medium"],"Found":["ens.sn1.small"]},` +
		`{"Field":"ScalingGroup.VswitchIds","Requested":["vsw-demo0001","vsw-demo0002"],"Found":[]}]`
	if string(b) != want {
		t.Errorf("Differences = %s\nwant          %s", b, want)
	}
}

// TestFind: the worker's rule — a pool of the request's name with the same
// spec is adopted (even after one that differs), pools of that name that
// all differ are a conflict each, other names are ignored, and no pool of
// the name means create.
func TestFind(t *testing.T) {
	t.Parallel()
	req := mustDecode(t, "full.json")
	name := req.NodepoolInfo.Name
	match := ens.NodePool{NodepoolInfo: ens.NodepoolInfo{Name: name, NodepoolId: "np-same"}, Status: ens.NodePoolStatus{DesiredNodes: 3},
		KubernetesConfig: &ens.KubernetesConfig{PreUserData: "IyEvYmluL3NoCmVjaG8gcHJlCg==", UserData: "ZWNobyBvawo="},
		ScalingGroup: ens.ScalingGroup{ImageId: "m-6734fzvcwcv2o8jj201cpa7ox", InstanceTypes: []string{"ens.sn1.medium", "ens.sn1.small"},
			VswitchIds: []string{"vsw-demo0002", "vsw-demo0001"}, InstanceChargeType: "PostPaid", KeyPairName: "ops-key",
			SystemDiskCategory: "cloud_efficiency", SystemDiskSize: 80,
			DataDisks: []ens.DataDisk{{Category: "local_hdd", Size: 500}, {Category: "cloud_ssd", Size: 100}}}}
	bigger := match
	bigger.NodepoolInfo.NodepoolId, bigger.Status.DesiredNodes = "np-bigger", 4
	other := match
	other.NodepoolInfo.Name, other.NodepoolInfo.NodepoolId = "other", "np-other"

	if f := Find(req, []ens.NodePool{other}); f.Adopt != nil || len(f.Conflicts) != 0 {
		t.Errorf("another name: %+v, want create", f)
	}
	if f := Find(req, []ens.NodePool{other, bigger, match}); f.Adopt == nil || f.Adopt.NodepoolInfo.NodepoolId != "np-same" {
		t.Errorf("a match after a differing pool: %+v, want adopt np-same", f)
	}
	f := Find(req, []ens.NodePool{bigger, other})
	if f.Adopt != nil || len(f.Conflicts) != 1 || f.Conflicts[0].Pool.NodepoolInfo.NodepoolId != "np-bigger" ||
		!slices.Equal(f.Conflicts[0].Fields(), []string{"ScalingGroup.DesiredSize"}) {
		t.Errorf("only a differing pool: %+v, want its conflict in DesiredSize", f)
	}
}
