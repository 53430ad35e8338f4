package chatops

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/ensnodepool/webhook/pkg/nodepool"
)

func testPresets(t testing.TB) Presets {
	t.Helper()
	ps, err := ParsePresets(readTestdata(t, "presets.json"))
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestParsePresets(t *testing.T) {
	t.Parallel()
	ps := testPresets(t)
	if got, want := ps.Names(), []string{"large", "small"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Names = %v, want %v", got, want)
	}
	// No error quotes the value: a preset may hold UserData with a
	// secret in it (Mk9 stands for one).
	bad := map[string]string{
		"unknown field":     `{"x":{"ScalingGroup":{"Size":1}}}`,
		"password":          `{"x":{"ScalingGroup":{"Password":"Abc12345!"}}}`,
		"duplicate":         `{"X":{},"x":{}}`,
		"not object":        `[1]`,
		"a list of presets": `[{"x":{"KubernetesConfig":{"UserData":"Mk9"}}}]`,
		"bad name":          `{"a b Mk9":{}}`,
		"syntax":            `{"x":{"KubernetesConfig":{"UserData":"Mk9"}}`,
		"wrong type":        `{"x":{"KubernetesConfig":{"UserData":["Mk9"]}}}`,
		"secret as a field": `{"x":{"Mk9-whsec":1}}`,
	}
	for name, js := range bad {
		_, err := ParsePresets([]byte(js))
		if !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", name, err)
		}
		if err != nil && strings.Contains(strings.ToLower(err.Error()), "mk9") {
			t.Errorf("%s: the error quotes the value: %v", name, err)
		}
	}
	if ps, err := ParsePresets(nil); err != nil || len(ps) != 0 {
		t.Errorf("empty: %v %v", ps, err)
	}
}

func TestBuildRequestMerge(t *testing.T) {
	t.Parallel()
	ps := testPresets(t)
	cmd, err := ParseCommand("nodepool create eck-demo0001 pool-a preset=LARGE size=5 type=ens.sn1.small vsw=vsw-demo0002 disk=60")
	if err != nil {
		t.Fatal(err)
	}
	r, err := ps.BuildRequest(cmd)
	if err != nil {
		t.Fatal(err)
	}
	sg := r.ScalingGroup
	if r.ClusterId != "eck-demo0001" || r.NodepoolInfo.Name != "pool-a" || sg.DesiredSize != 5 ||
		!reflect.DeepEqual(sg.InstanceTypes, []string{"ens.sn1.small"}) || !reflect.DeepEqual(sg.VswitchIds, []string{"vsw-demo0002"}) ||
		sg.SystemDiskSize != 60 || sg.ImageId != "m-6734fzvcwcv2o8jj201cpa7ox" || sg.KeyPairName != "demo-keypair" ||
		len(sg.DataDisks) != 1 || r.KubernetesConfig == nil || r.KubernetesConfig.UserData != "ZWNobyBoZWxsbw==" {
		t.Fatalf("merged request = %+v", r)
	}
	if err := nodepool.NewValidator(nodepool.ValidationConfig{}).Validate(r); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	// The preset itself is unchanged.
	if got := ps["large"].ScalingGroup.InstanceTypes; len(got) != 2 {
		t.Fatalf("preset mutated: %v", got)
	}
}

func TestBuildRequestErrorsAsChatText(t *testing.T) {
	t.Parallel()
	ps := testPresets(t)
	v := nodepool.NewValidator(nodepool.ValidationConfig{})
	tests := []struct {
		name string
		ps   Presets
		text string
		want []string // substrings of the chat text
	}{
		{"unknown preset", ps, "create eck-demo0001 pool-a preset=huge", []string{"unknown preset `huge`", "presets: large, small"}},
		{"no default preset", ps, "create eck-demo0001 pool-a", []string{"no preset given and no `default` preset"}},
		{"no presets", Presets{}, "create eck-demo0001 pool-a preset=x", []string{"no presets are configured"}},
		{"size not a number", ps, "create eck-demo0001 pool-a preset=small size=three", []string{"size must be a whole number"}},
		{"size out of range", ps, "create eck-demo0001 pool-a preset=small size=0", []string{"size must be a whole number of nodes, at least 1"}},
		{"size too big", ps, "create eck-demo0001 pool-a preset=small size=101", []string{"• size (ScalingGroup.DesiredSize) must be between 1 and 100"}},
		{"several fields", ps, "create cluster-1 -pool preset=small type=big image=ubuntu vsw=vsw-a,vsw-a disk=25", []string{
			"• <cluster> (ClusterId) must be a cluster id like eck-abc123",
			"• <name> (NodepoolInfo.Name) must be 1-63 characters",
			"• vsw (ScalingGroup.VswitchIds) must not contain duplicates",
			"• type (ScalingGroup.InstanceTypes[0]) must be an instance type like ens.sn1.small",
			"• disk (ScalingGroup.SystemDiskSize) must be a multiple of 10",
			"• image (ScalingGroup.ImageId) must be an image id",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmd, err := ParseCommand(tt.text)
			if err != nil {
				t.Fatal(err)
			}
			r, err := tt.ps.BuildRequest(cmd)
			if err == nil {
				err = v.Validate(r)
			}
			if err == nil {
				t.Fatal("no error")
			}
			text := ErrorText(err)
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("chat text lacks %q:\n%s", w, text)
				}
			}
		})
	}
}

// TestBuildRequestWithoutPresets: with no presets configured, a command
// that gives every needed option makes a valid request (as help says).
func TestBuildRequestWithoutPresets(t *testing.T) {
	t.Parallel()
	cmd, err := ParseCommand("create eck-demo0001 pool-a size=2 type=ens.sn1.small image=m-6734fzvcwcv2o8jj201cpa7ox vsw=vsw-demo0001 keypair=k1")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Presets{}.BuildRequest(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if err := nodepool.NewValidator(nodepool.ValidationConfig{}).Validate(r); err != nil {
		t.Fatalf("request from options alone: %v", err)
	}
}
