package caller

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ensnodepool/webhook/pkg/nodepool"
)

func load(t *testing.T) *Set {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "callers.json"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// base is a request inside portal-a's policy.
func base() *nodepool.Request {
	return &nodepool.Request{
		ClusterId:    "eck-demo0001",
		NodepoolInfo: nodepool.NodepoolInfo{Name: "p1"},
		ScalingGroup: nodepool.ScalingGroup{
			DesiredSize: 10, KeyPairName: "kp", VswitchIds: []string{"vsw-1"},
			InstanceChargeType: "PostPaid", InstanceTypes: []string{"ens.sn1.small", "ens.sn1.tiny"}, ImageId: "m-1",
		},
		Callback: &nodepool.Callback{Url: "https://portal.example.com/cb"},
	}
}

// TestCheck: every rule, allowed and denied, for the restricted caller;
// the unrestricted caller allows everything but needs its cluster glob.
func TestCheck(t *testing.T) {
	s := load(t)
	a, _ := s.Lookup("portal-a")
	b, _ := s.Lookup("team-b")
	tests := []struct {
		name        string
		c           *Caller
		mod         func(r *nodepool.Request)
		rule, field string
	}{
		{"inside the policy", a, func(*nodepool.Request) {}, "", ""},
		{"cluster by glob", a, func(r *nodepool.Request) { r.ClusterId = "eck-edge42" }, "", ""},
		{"cluster glob is case-insensitive", a, func(r *nodepool.Request) { r.ClusterId = "ECK-EDGE42" }, "", ""},
		{"cluster outside", a, func(r *nodepool.Request) { r.ClusterId = "eck-prod0001" }, "Clusters", "ClusterId"},
		{"cluster prefix only", a, func(r *nodepool.Request) { r.ClusterId = "eck-demo00011" }, "Clusters", "ClusterId"},
		{"size at the cap", a, func(r *nodepool.Request) { r.ScalingGroup.DesiredSize = 10 }, "", ""},
		{"size over the cap", a, func(r *nodepool.Request) { r.ScalingGroup.DesiredSize = 11 }, "MaxDesiredSize", "ScalingGroup.DesiredSize"},
		{"instance type outside", a, func(r *nodepool.Request) {
			r.ScalingGroup.InstanceTypes = []string{"ens.sn1.small", "ens.gn5.large"}
		}, "InstanceTypes", "ScalingGroup.InstanceTypes[1]"},
		{"charge type other", a, func(r *nodepool.Request) { r.ScalingGroup.InstanceChargeType = "PrePaid" }, "ChargeTypes", "ScalingGroup.InstanceChargeType"},
		{"charge type absent", a, func(r *nodepool.Request) { r.ScalingGroup.InstanceChargeType = "" }, "ChargeTypes", "ScalingGroup.InstanceChargeType"},
		{"password refused", a, func(r *nodepool.Request) {
			r.ScalingGroup.KeyPairName, r.ScalingGroup.Password = "", "Secret-123"
		}, "AllowPassword", "ScalingGroup.Password"},
		{"size absent under a cap", a, func(r *nodepool.Request) { r.ScalingGroup.DesiredSize = 0 }, "MaxDesiredSize", "ScalingGroup.DesiredSize"},
		{"callback host by glob", a, func(r *nodepool.Request) { r.Callback.Url = "https://x.hooks.example.com/cb" }, "", ""},
		{"callback default port stated", a, func(r *nodepool.Request) { r.Callback.Url = "https://portal.example.com:443/cb" }, "", ""},
		{"callback on another port", a, func(r *nodepool.Request) { r.Callback.Url = "https://portal.example.com:8443/cb" }, "CallbackHosts", "Callback.Url"},
		{"callback port by rule", a, func(r *nodepool.Request) { r.Callback.Url = "https://ops.example.com:8443/cb" }, "", ""},
		{"callback port by rule, other port", a, func(r *nodepool.Request) { r.Callback.Url = "https://ops.example.com:9443/cb" }, "CallbackHosts", "Callback.Url"},
		{"callback any port", a, func(r *nodepool.Request) { r.Callback.Url = "http://127.0.0.1:18080/cb" }, "", ""},
		{"callback user info", a, func(r *nodepool.Request) { r.Callback.Url = "https://portal.example.com:1@evil.net/cb" }, "CallbackHosts", "Callback.Url"},
		{"callback host outside", a, func(r *nodepool.Request) { r.Callback.Url = "https://evil.example.net/cb" }, "CallbackHosts", "Callback.Url"},
		{"callback host suffix trick", a, func(r *nodepool.Request) { r.Callback.Url = "https://portal.example.com.evil.net/cb" }, "CallbackHosts", "Callback.Url"},
		{"no callback", a, func(r *nodepool.Request) { r.Callback = nil }, "", ""},
		{"chat callback not host-checked", a, func(r *nodepool.Request) {
			r.Callback = &nodepool.Callback{Url: "https://hooks.slack.com/x", Format: "slack"}
		}, "", ""},
		{"first broken rule wins", a, func(r *nodepool.Request) {
			r.ClusterId, r.ScalingGroup.DesiredSize = "eck-prod0001", 99
		}, "Clusters", "ClusterId"},
		{"unrestricted caller: anything", b, func(r *nodepool.Request) {
			r.ClusterId, r.ScalingGroup.DesiredSize = "eck-prod0001", 500
			r.ScalingGroup.InstanceTypes, r.ScalingGroup.InstanceChargeType = []string{"ens.gn5.large"}, ""
			r.ScalingGroup.KeyPairName, r.ScalingGroup.Password = "", "Secret-123"
			r.Callback.Url = "https://anywhere.example.org/"
		}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base()
			tt.mod(r)
			err := tt.c.Check(r)
			if tt.rule == "" {
				if err != nil {
					t.Fatalf("denied: %v", err)
				}
				return
			}
			var d *DeniedError
			if !errors.As(err, &d) || !errors.Is(err, ErrForbidden) {
				t.Fatalf("err = %v, want a denial", err)
			}
			if d.Rule != tt.rule || d.Field != tt.field || d.Caller != tt.c.Id || d.Message == "" {
				t.Errorf("denial = %+v, want rule %s field %s", d, tt.rule, tt.field)
			}
			if !strings.HasPrefix(err.Error(), tt.field+": ") || !strings.Contains(err.Error(), "rule "+tt.rule) {
				t.Errorf("text %q", err)
			}
			if strings.Contains(err.Error(), "team-b") || strings.Contains(err.Error(), "whsec_") {
				t.Errorf("denial names another caller or a secret: %q", err)
			}
		})
	}
	if got := a.Check(base()); got != nil {
		t.Fatal(got)
	}
	r := base()
	r.ScalingGroup.DesiredSize = 11
	if err := a.Check(r); err.Error() != "ScalingGroup.DesiredSize: at most 10 for this caller (rule MaxDesiredSize)" {
		t.Errorf("text = %q", err)
	}
}

func TestMatch(t *testing.T) {
	for _, tt := range []struct {
		glob, name string
		want       bool
	}{
		{"*", "", true}, {"*", "eck-1", true}, {"eck-*", "eck-", true}, {"eck-*", "ECK-x", true},
		{"eck-*", "xeck-1", false}, {"*.hooks.example.com", "a.b.hooks.example.com", true},
		{"*.hooks.example.com", "hooks.example.com", false}, {"a*b*c", "aXbYc", true}, {"a*b*c", "aXbY", false},
		{"ens.sn1.*", "ens.sn1.small", true}, {"ens.sn1.*", "ens.sn10.small", false}, {"a**", "a", true},
		{"exact", "exact", true}, {"exact", "exactly", false},
	} {
		if got := Match(tt.glob, tt.name); got != tt.want {
			t.Errorf("Match(%q, %q) = %v", tt.glob, tt.name, got)
		}
	}
}

func TestByChat(t *testing.T) {
	s := load(t)
	for _, tt := range []struct{ platform, team, user, want string }{
		{"slack", "T0123", "U0456", "portal-a"}, // exact wins over the team wildcard
		{"slack", "T0123", "U9999", "team-b"},   // team wildcard
		{"slack", "T9999", "U0456", ""},         // other workspace
		{"slack", "", "U0456", ""},              // no team
		{"dingtalk", "", "staff01", "portal-a"}, //
		{"dingtalk", "", "staff02", ""},         //
		{"feishu", "", "ou_abc", "portal-a"},    //
		{"feishu", "", "U0456", ""},             // ids are per platform
		{"dingtalk", "", "", ""},                // no id
		{"slack", "T0123", "", ""},              // no user
		{"feishu", "", "slack:T0123/U0456", ""}, // no cross-platform spelling
	} {
		c, ok := s.ByChat(tt.platform, tt.team, tt.user)
		got := ""
		if ok {
			got = c.Id
		}
		if got != tt.want {
			t.Errorf("ByChat(%s, %s, %s) = %q, want %q", tt.platform, tt.team, tt.user, got, tt.want)
		}
	}
	var none *Set
	if _, ok := none.ByChat("slack", "T", "U"); ok {
		t.Error("nil set mapped a user")
	}
}

const (
	goodSecret  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwAAAAAAAAAAA="
	otherSecret = "whsec_dGVhbS1iLXNlY3JldC0wMDAwMDAwMDAwMDAwMDAwMDA="
)

// TestParseErrors: every invalid entry is named by index and field, all at
// once, and no error text carries a secret.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, json string
		want       []string
	}{
		{"not json", `[{`, []string{"not JSON"}},
		{"object not list", `{"Id":"a"}`, []string{"want a list"}},
		{"object with a secret", `{"Id":"a","Clusters":["*"],"Secrets":["` + goodSecret + `"]}`, []string{"want a list"}},
		{"object after a BOM", "\uFEFF" + `{"Id":"a","Secrets":["` + goodSecret + `"]}`, []string{"want a list"}},
		{"no secrets", `[{"Id":"a","Clusters":["*"],"Chat":["slack:T1/U1"]}]`, []string{"CALLERS[0].Secrets: at least one is required"}},
		{"secret as a field name", `[{"Id":"a","Clusters":["*"],"` + goodSecret + `":1}]`, []string{"an unknown field"}},
		{"bad host port", `[{"Id":"a","Clusters":["*"],"CallbackHosts":["x.example.com:http"]}]`, []string{"CALLERS[0].CallbackHosts[0]"}},
		{"empty list", `[]`, []string{"empty"}},
		{"unknown field", `[{"Id":"a","Clusters":["*"],"Secretz":["x"]}]`, []string{`unknown field "Secretz"`}},
		{"trailing", `[{"Id":"a","Clusters":["*"]}] []`, []string{"trailing"}},
		{"null entry", `[null]`, []string{"CALLERS[0]: must be an object"}},
		{"bad id", `[{"Id":"A B","Clusters":["*"]}]`, []string{"CALLERS[0].Id"}},
		{"duplicate id", `[{"Id":"a","Clusters":["*"]},{"Id":"a","Clusters":["*"]}]`, []string{"CALLERS[1].Id"}},
		{"no clusters", `[{"Id":"a"}]`, []string{"CALLERS[0].Clusters: is required"}},
		{"bad glob", `[{"Id":"a","Clusters":["eck-?"]}]`, []string{"CALLERS[0].Clusters[0]"}},
		{"bad instance glob", `[{"Id":"a","Clusters":["*"],"InstanceTypes":[""]}]`, []string{"CALLERS[0].InstanceTypes[0]"}},
		{"bad host glob", `[{"Id":"a","Clusters":["*"],"CallbackHosts":["https://x"]}]`, []string{"CALLERS[0].CallbackHosts[0]"}},
		{"negative size", `[{"Id":"a","Clusters":["*"],"MaxDesiredSize":-1}]`, []string{"CALLERS[0].MaxDesiredSize"}},
		{"bad charge", `[{"Id":"a","Clusters":["*"],"ChargeTypes":["Free"]}]`, []string{"CALLERS[0].ChargeTypes[0]"}},
		{"secret no prefix", `[{"Id":"a","Clusters":["*"],"Secrets":["hunter2hunter2hunter2hunter2hunter2"]}]`, []string{"CALLERS[0].Secrets[0]"}},
		{"secret short", `[{"Id":"a","Clusters":["*"],"Secrets":["whsec_c2hvcnQ="]}]`, []string{"CALLERS[0].Secrets[0]: 5 bytes"}},
		{"secret twice", `[{"Id":"a","Clusters":["*"],"Secrets":["` + goodSecret + `"]},{"Id":"b","Clusters":["*"],"Secrets":["` + goodSecret + `"]}]`,
			[]string{"CALLERS[1].Secrets[0]: is also a secret of CALLERS[0]"}},
		{"bad callback secret", `[{"Id":"a","Clusters":["*"],"CallbackSecret":"whsec_!!"}]`, []string{"CALLERS[0].CallbackSecret"}},
		{"bad chat", `[{"Id":"a","Clusters":["*"],"Chat":["teams:x","slack:T1","slack:/U","dingtalk:"]}]`,
			[]string{"CALLERS[0].Chat[0]", "CALLERS[0].Chat[1]", "CALLERS[0].Chat[2]", "CALLERS[0].Chat[3]"}},
		{"chat twice", `[{"Id":"a","Clusters":["*"],"Chat":["feishu:ou_1"]},{"Id":"b","Clusters":["*"],"Chat":["feishu:ou_1"]}]`,
			[]string{"CALLERS[1].Chat[0]: is also listed by CALLERS[0]"}},
		{"several at once", `[{"Id":"ok","Clusters":["*"]},{"Id":"","Secrets":["whsec_x` + strings.Repeat("y", 40) + `"]}]`,
			[]string{"CALLERS[1].Id", "CALLERS[1].Secrets[0]", "CALLERS[1].Clusters"}},
		{"wrong type", `[{"Id":"a","Clusters":"*"}]`, []string{"Clusters has the wrong type"}},
		{"secret in a wrong-type value", `[{"Id":"a","Clusters":["*"],"Secrets":"` + otherSecret + `"}]`, []string{"Secrets has the wrong type"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.json))
			if err == nil || !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			for _, leak := range []string{"MfKQ9r8", "hunter2", "c2hvcnQ", "dGVhbS1i", "xyyyy", "whsec_!!"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error leaks %q: %q", leak, err)
				}
			}
		})
	}
}

// TestParseList: the list parses with or without a byte order mark, and
// every caller's envelope keys are derived from its secrets, in order.
func TestParseList(t *testing.T) {
	inline, err := os.ReadFile(filepath.Join("testdata", "callers.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{inline, append([]byte("\uFEFF \n"), inline...)} {
		s, err := Parse(b)
		if err != nil || len(s.Callers()) != 2 {
			t.Fatalf("parse: %v", err)
		}
		if m := s.CallbackSecrets(); len(m) != 1 || m["portal-a"] == "" {
			t.Errorf("CallbackSecrets = %d entries", len(m))
		}
		a, _ := s.Lookup("portal-a")
		if keys := a.EnvelopeKeys(); len(keys) != 2 || bytes.Equal(keys[0], keys[1]) || len(keys[0]) != 32 {
			t.Errorf("envelope keys of portal-a: %d", len(keys))
		}
		if f, ok := s.ChatOn(PlatformFeishu); !ok || f != "CALLERS[0].Chat[2]" {
			t.Errorf("ChatOn(feishu) = %q, %v", f, ok)
		}
		if _, ok := s.ChatOn("teams"); ok {
			t.Error("ChatOn(teams)")
		}
	}
}
