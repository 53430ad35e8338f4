package intake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/admission"
	"github.com/ensnodepool/webhook/pkg/caller"
	"github.com/ensnodepool/webhook/pkg/ens"
	"github.com/ensnodepool/webhook/pkg/fcadapter"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// TestAcceptExamples: the ENS documentation's example, bodies built from
// CreateClusterNodePool's documented example values (with KeyPairName, with
// Password, with only the required parameters) and a full request are
// accepted (202) and the envelope read back from the queue carries the
// request, with the password only sealed.
func TestAcceptExamples(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"ens-doc-example.json", "ens-doc-values-keypair.json", "ens-doc-values-password.json",
		"ens-doc-required-only.json", "full.json"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			body := readFile(t, name)
			r := post(t, body)
			r.Header.Set("Idempotency-Key", "order-42")
			w := b.do(r)
			if w.Code != http.StatusAccepted {
				t.Fatalf("status = %d: %s", w.Code, w.Body)
			}
			var got accepted
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			want, _ := nodepool.Decode(body)
			wantURL := "https://hooks.example.com/v1/clusters/" + want.ClusterId + "/nodepools/" + want.NodepoolInfo.Name
			if got.RequestId != nodepool.RequestID("order-42", "") || got.ClusterId != want.ClusterId ||
				got.Name != want.NodepoolInfo.Name || got.State != "accepted" || got.StatusUrl != wantURL {
				t.Errorf("202 body = %+v", got)
			}
			if loc := w.Header().Get("Location"); loc != wantURL {
				t.Errorf("Location = %q, want %q", loc, wantURL)
			}

			msgs := b.queue.Received(t)
			if len(msgs) != 1 {
				t.Fatalf("queue holds %d messages, want 1", len(msgs))
			}
			if pw := want.ScalingGroup.Password; pw != "" && strings.Contains(msgs[0], pw) {
				t.Error("queue message holds the password in clear")
			}
			env, err := nodepool.Parse([]byte(msgs[0]))
			if err != nil {
				t.Fatalf("Parse(queued): %v", err)
			}
			if env.Version != 1 || env.RequestId != got.RequestId || env.Source != "webhook" || !env.ReceivedAt.Equal(testNow) {
				t.Errorf("envelope = %+v", env)
			}
			if (want.ScalingGroup.Password != "") != (env.SealedPassword != "") {
				t.Errorf("SealedPassword = %q", env.SealedPassword)
			}
			opened, err := env.Open(b.sealer)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(opened, want) {
				t.Errorf("queued request = %+v\nwant %+v", opened, want)
			}
		})
	}
}

type obj = map[string]any

// invalidCase is a body that must be answered 400 listing exactly fields.
type invalidCase struct {
	name   string
	raw    string      // a literal body, or
	mutate func(m obj) // a change to the ENS example
	header func(h http.Header)
	fields []string
}

func sg(m obj) obj { return m["ScalingGroup"].(obj) }
func disk0(m obj) obj {
	return sg(m)["DataDisks"].([]any)[0].(obj)
}

func strs(prefix string, n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i)
	}
	return out
}

func invalidCases(example string) []invalidCase {
	const (
		vsw  = "ScalingGroup.VswitchIds"
		it   = "ScalingGroup.InstanceTypes"
		pw   = "ScalingGroup.Password"
		kp   = "ScalingGroup.KeyPairName"
		ds   = "ScalingGroup.DesiredSize"
		sds  = "ScalingGroup.SystemDiskSize"
		img  = "ScalingGroup.ImageId"
		dd0s = "ScalingGroup.DataDisks[0].Size"
	)
	big := strings.Repeat("QUFB", nodepool.MaxUserData/3+1) // 16 KiB + 3 bytes decoded
	return []invalidCase{
		// Malformed JSON and structure.
		{name: "empty body", raw: ``, fields: []string{""}},
		{name: "not JSON", raw: `ClusterId=eck-abc`, fields: []string{""}},
		{name: "missing value", raw: `{"ClusterId": }`, fields: []string{"ClusterId"}},
		{name: "truncated", raw: example[:len(example)/2], fields: []string{"ScalingGroup"}},
		{name: "top-level array", raw: `[` + example + `]`, fields: []string{""}},
		{name: "top-level null", raw: `null`, fields: []string{""}},
		{name: "top-level string", raw: `"eck-abc"`, fields: []string{""}},
		{name: "trailing object", raw: example + `{}`, fields: []string{""}},
		{name: "trailing garbage", raw: example + ` x`, fields: []string{""}},
		{name: "two bodies", raw: example + example, fields: []string{""}},
		{name: "invalid UTF-8", raw: strings.Replace(example, `"p1"`, "\"p\xff\"", 1), fields: []string{""}},
		{name: "unknown top-level field", mutate: func(m obj) { m["RegionId"] = "cn-hangzhou" }, fields: []string{"RegionId"}},
		{name: "unknown nested field", mutate: func(m obj) { sg(m)["Count"] = 1 }, fields: []string{"ScalingGroup.Count"}},
		{name: "unknown field in array item", mutate: func(m obj) { disk0(m)["Type"] = "x" }, fields: []string{"ScalingGroup.DataDisks[0].Type"}},
		{name: "wrong-case field", raw: strings.Replace(example, `"ClusterId"`, `"clusterId"`, 1), fields: []string{"clusterId"}},
		{name: "duplicate field", raw: strings.Replace(example, `"ClusterId": "eck-abc"`, `"ClusterId": "eck-abc", "ClusterId": "eck-abd"`, 1), fields: []string{"ClusterId"}},
		{name: "callback unknown field", mutate: func(m obj) { m["Callback"] = obj{"Url": "https://a.example/", "Secret": "x"} }, fields: []string{"Callback.Secret"}},

		// Wrong types.
		{name: "ClusterId number", mutate: func(m obj) { m["ClusterId"] = 123 }, fields: []string{"ClusterId"}},
		{name: "NodepoolInfo string", mutate: func(m obj) { m["NodepoolInfo"] = "p1" }, fields: []string{"NodepoolInfo"}},
		{name: "Name array", mutate: func(m obj) { m["NodepoolInfo"] = obj{"Name": []any{"p1"}} }, fields: []string{"NodepoolInfo.Name"}},
		{name: "DesiredSize string", mutate: func(m obj) { sg(m)["DesiredSize"] = "2" }, fields: []string{ds}},
		{name: "DesiredSize float", mutate: func(m obj) { sg(m)["DesiredSize"] = 2.5 }, fields: []string{ds}},
		{name: "DesiredSize bool", mutate: func(m obj) { sg(m)["DesiredSize"] = true }, fields: []string{ds}},
		{name: "VswitchIds string", mutate: func(m obj) { sg(m)["VswitchIds"] = "vsw-1" }, fields: []string{vsw}},
		{name: "VswitchIds number item", mutate: func(m obj) { sg(m)["VswitchIds"] = []any{"vsw-1", 2} }, fields: []string{vsw + "[1]"}},
		{name: "DataDisks object", mutate: func(m obj) { sg(m)["DataDisks"] = obj{"Size": 20} }, fields: []string{"ScalingGroup.DataDisks"}},
		{name: "disk size string", mutate: func(m obj) { disk0(m)["Size"] = "20" }, fields: []string{dd0s}},
		{name: "KubernetesConfig array", mutate: func(m obj) { m["KubernetesConfig"] = []any{} }, fields: []string{"KubernetesConfig"}},
		{name: "Callback string", mutate: func(m obj) { m["Callback"] = "https://a.example/" }, fields: []string{"Callback"}},

		// Integer overflow and number forms.
		{name: "DesiredSize int32 overflow", raw: strings.Replace(example, `"DesiredSize":2`, `"DesiredSize":2147483648`, 1), fields: []string{ds}},
		{name: "DesiredSize huge", raw: strings.Replace(example, `"DesiredSize":2`, `"DesiredSize":99999999999999999999999`, 1), fields: []string{ds}},
		{name: "disk size negative overflow", raw: strings.Replace(example, `"Size":20`, `"Size":-2147483649`, 1), fields: []string{dd0s}},
		{name: "SystemDiskSize exponent", raw: strings.Replace(example, `"SystemDiskSize":40`, `"SystemDiskSize":4e1`, 1), fields: []string{sds}},

		// Nulls: a null member is absent; a null item is an error.
		{name: "ClusterId null", mutate: func(m obj) { m["ClusterId"] = nil }, fields: []string{"ClusterId"}},
		{name: "ImageId null", mutate: func(m obj) { sg(m)["ImageId"] = nil }, fields: []string{img}},
		{name: "ScalingGroup null", mutate: func(m obj) { m["ScalingGroup"] = nil }, fields: []string{pw, vsw, it, img}},
		{name: "null array item", mutate: func(m obj) { sg(m)["VswitchIds"] = []any{"vsw-1", nil} }, fields: []string{vsw + "[1]"}},
		{name: "null data disk", mutate: func(m obj) { sg(m)["DataDisks"] = []any{nil} }, fields: []string{"ScalingGroup.DataDisks[0]"}},

		// Required fields.
		{name: "no ClusterId", mutate: func(m obj) { delete(m, "ClusterId") }, fields: []string{"ClusterId"}},
		{name: "no NodepoolInfo", mutate: func(m obj) { delete(m, "NodepoolInfo") }, fields: []string{"NodepoolInfo.Name"}},
		{name: "empty Name", mutate: func(m obj) { m["NodepoolInfo"] = obj{"Name": ""} }, fields: []string{"NodepoolInfo.Name"}},
		{name: "no ImageId", mutate: func(m obj) { delete(sg(m), "ImageId") }, fields: []string{img}},
		{name: "no InstanceTypes", mutate: func(m obj) { delete(sg(m), "InstanceTypes") }, fields: []string{it}},
		{name: "no VswitchIds", mutate: func(m obj) { delete(sg(m), "VswitchIds") }, fields: []string{vsw}},
		{name: "empty object", raw: `{}`, fields: []string{"ClusterId", "NodepoolInfo.Name", pw, vsw, it, img}},

		// Exactly one of KeyPairName and Password.
		{name: "neither credential", mutate: func(m obj) { delete(sg(m), "Password") }, fields: []string{pw}},
		{name: "both credentials", mutate: func(m obj) { sg(m)["KeyPairName"] = "ops-key" }, fields: []string{kp}},
		{name: "key pair name too short", mutate: func(m obj) { delete(sg(m), "Password"); sg(m)["KeyPairName"] = "k" }, fields: []string{kp}},

		// Id forms.
		{name: "cluster id prefix", mutate: func(m obj) { m["ClusterId"] = "c-abc" }, fields: []string{"ClusterId"}},
		{name: "cluster id upper case", mutate: func(m obj) { m["ClusterId"] = "eck-ABC" }, fields: []string{"ClusterId"}},
		{name: "cluster id too long", mutate: func(m obj) { m["ClusterId"] = "eck-" + strings.Repeat("a", 61) }, fields: []string{"ClusterId"}},
		{name: "cluster id bare prefix", mutate: func(m obj) { m["ClusterId"] = "eck-" }, fields: []string{"ClusterId"}},
		{name: "vswitch id form", mutate: func(m obj) { sg(m)["VswitchIds"] = []any{"vsw_1"} }, fields: []string{vsw + "[0]"}},
		{name: "second vswitch id form", mutate: func(m obj) { sg(m)["VswitchIds"] = []any{"vsw-1", "vpc-2"} }, fields: []string{vsw + "[1]"}},
		{name: "image id form", mutate: func(m obj) { sg(m)["ImageId"] = "img-1" }, fields: []string{img}},
		{name: "instance type form", mutate: func(m obj) { sg(m)["InstanceTypes"] = []any{"sn1.small"} }, fields: []string{it + "[0]"}},

		// Enums.
		{name: "charge type", mutate: func(m obj) { sg(m)["InstanceChargeType"] = "Free" }, fields: []string{"ScalingGroup.InstanceChargeType"}},
		{name: "charge type case", mutate: func(m obj) { sg(m)["InstanceChargeType"] = "postpaid" }, fields: []string{"ScalingGroup.InstanceChargeType"}},
		{name: "system disk category", mutate: func(m obj) { sg(m)["SystemDiskCategory"] = "ssd" }, fields: []string{"ScalingGroup.SystemDiskCategory"}},
		{name: "data disk category", mutate: func(m obj) { disk0(m)["Category"] = "cloud" }, fields: []string{"ScalingGroup.DataDisks[0].Category"}},

		// Disk sizes.
		{name: "system disk 10", mutate: func(m obj) { sg(m)["SystemDiskSize"] = 10 }, fields: []string{sds}},
		{name: "system disk 45", mutate: func(m obj) { sg(m)["SystemDiskSize"] = 45 }, fields: []string{sds}},
		{name: "system disk over max", mutate: func(m obj) { sg(m)["SystemDiskSize"] = 4000 }, fields: []string{sds}},
		{name: "system disk negative", mutate: func(m obj) { sg(m)["SystemDiskSize"] = -20 }, fields: []string{sds}},
		{name: "second data disk 25", mutate: func(m obj) {
			sg(m)["DataDisks"] = []any{obj{"Category": "cloud_ssd", "Size": 40}, obj{"Category": "cloud_ssd", "Size": 25}}
		}, fields: []string{"ScalingGroup.DataDisks[1].Size"}},
		{name: "data disk over max", mutate: func(m obj) { disk0(m)["Size"] = 40000 }, fields: []string{dd0s}},
		{name: "17 data disks", mutate: func(m obj) {
			d := make([]any, 17)
			for i := range d {
				d[i] = obj{"Category": "cloud_ssd", "Size": 20}
			}
			sg(m)["DataDisks"] = d
		}, fields: []string{"ScalingGroup.DataDisks"}},

		// Password length and characters (classes are left to ENS).
		{name: "password short", mutate: func(m obj) { sg(m)["Password"] = "Ab1!xyz" }, fields: []string{pw}},
		{name: "password 31 chars", mutate: func(m obj) { sg(m)["Password"] = strings.Repeat("aB3", 10) + "x" }, fields: []string{pw}},
		{name: "password non-ASCII", mutate: func(m obj) { sg(m)["Password"] = "Pässwort123" }, fields: []string{pw}},
		{name: "password control char", mutate: func(m obj) { sg(m)["Password"] = "Abcdef12\n" }, fields: []string{pw}},

		// User data.
		{name: "user data not base64", mutate: func(m obj) { m["KubernetesConfig"] = obj{"UserData": "echo ok"} }, fields: []string{"KubernetesConfig.UserData"}},
		{name: "user data no padding", mutate: func(m obj) { m["KubernetesConfig"] = obj{"UserData": "ZWNobyBvawo"} }, fields: []string{"KubernetesConfig.UserData"}},
		{name: "user data url alphabet", mutate: func(m obj) { m["KubernetesConfig"] = obj{"UserData": "ZW-_"} }, fields: []string{"KubernetesConfig.UserData"}},
		{name: "pre user data too big", mutate: func(m obj) { m["KubernetesConfig"] = obj{"PreUserData": big} }, fields: []string{"KubernetesConfig.PreUserData"}},
		{name: "both scripts bad", mutate: func(m obj) { m["KubernetesConfig"] = obj{"PreUserData": "#!/bin/sh", "UserData": "%%%%"} },
			fields: []string{"KubernetesConfig.PreUserData", "KubernetesConfig.UserData"}},

		// DesiredSize range.
		{name: "desired 0", mutate: func(m obj) { sg(m)["DesiredSize"] = 0 }, fields: []string{ds}},
		{name: "desired negative", mutate: func(m obj) { sg(m)["DesiredSize"] = -1 }, fields: []string{ds}},
		{name: "desired 101", mutate: func(m obj) { sg(m)["DesiredSize"] = 101 }, fields: []string{ds}},

		// Lists: non-empty, bounded, unique; huge arrays.
		{name: "no vswitches", mutate: func(m obj) { sg(m)["VswitchIds"] = []any{} }, fields: []string{vsw}},
		{name: "11 vswitches", mutate: func(m obj) { sg(m)["VswitchIds"] = strs("vsw-", 11) }, fields: []string{vsw}},
		{name: "duplicate vswitches", mutate: func(m obj) { sg(m)["VswitchIds"] = []any{"vsw-1", "vsw-2", "vsw-1"} }, fields: []string{vsw}},
		{name: "no instance types", mutate: func(m obj) { sg(m)["InstanceTypes"] = []any{} }, fields: []string{it}},
		{name: "duplicate instance types", mutate: func(m obj) { sg(m)["InstanceTypes"] = []any{"ens.sn1.small", "ens.sn1.small"} }, fields: []string{it}},
		{name: "huge vswitch array", mutate: func(m obj) { sg(m)["VswitchIds"] = strs("vsw-", 3000) }, fields: []string{vsw}},
		{name: "huge instance type array", mutate: func(m obj) { sg(m)["InstanceTypes"] = strs("ens.sn1.s", 2000) }, fields: []string{it}},

		// Name.
		{name: "name with dot", mutate: func(m obj) { m["NodepoolInfo"] = obj{"Name": "pool.1"} }, fields: []string{"NodepoolInfo.Name"}},
		{name: "name leading dash", mutate: func(m obj) { m["NodepoolInfo"] = obj{"Name": "-pool"} }, fields: []string{"NodepoolInfo.Name"}},
		{name: "name 64 chars", mutate: func(m obj) { m["NodepoolInfo"] = obj{"Name": strings.Repeat("p", 64)} }, fields: []string{"NodepoolInfo.Name"}},
		{name: "name non-ASCII", mutate: func(m obj) { m["NodepoolInfo"] = obj{"Name": "池"} }, fields: []string{"NodepoolInfo.Name"}},
		{name: "name space", mutate: func(m obj) { m["NodepoolInfo"] = obj{"Name": "my pool"} }, fields: []string{"NodepoolInfo.Name"}},

		// Callback URL.
		{name: "callback http", mutate: func(m obj) { m["Callback"] = obj{"Url": "http://hooks.example.com/cb"} }, fields: []string{"Callback.Url"}},
		{name: "callback user info", mutate: func(m obj) { m["Callback"] = obj{"Url": "https://user:pw@hooks.example.com/cb"} }, fields: []string{"Callback.Url"}},
		{name: "callback fragment", mutate: func(m obj) { m["Callback"] = obj{"Url": "https://hooks.example.com/cb#frag"} }, fields: []string{"Callback.Url"}},
		{name: "callback relative", mutate: func(m obj) { m["Callback"] = obj{"Url": "/cb"} }, fields: []string{"Callback.Url"}},
		{name: "callback no host", mutate: func(m obj) { m["Callback"] = obj{"Url": "https:///cb"} }, fields: []string{"Callback.Url"}},
		{name: "callback ftp", mutate: func(m obj) { m["Callback"] = obj{"Url": "ftp://hooks.example.com/cb"} }, fields: []string{"Callback.Url"}},
		{name: "callback empty url", mutate: func(m obj) { m["Callback"] = obj{"Url": ""} }, fields: []string{"Callback.Url"}},
		{name: "callback empty object", mutate: func(m obj) { m["Callback"] = obj{} }, fields: []string{"Callback.Url"}},
		{name: "callback too long", mutate: func(m obj) { m["Callback"] = obj{"Url": "https://a.example/" + strings.Repeat("x", 2048)} }, fields: []string{"Callback.Url"}},

		// Every failing field is listed.
		{name: "several at once", mutate: func(m obj) {
			m["ClusterId"] = "cluster"
			sg(m)["InstanceChargeType"] = "Free"
			sg(m)["DataDisks"] = []any{obj{"Category": "cloud_ssd", "Size": 20}, obj{"Category": "hdd", "Size": 25}}
			m["Callback"] = obj{"Url": "http://x.example/"}
		}, fields: []string{"ClusterId", "ScalingGroup.InstanceChargeType", "ScalingGroup.DataDisks[1].Category", "ScalingGroup.DataDisks[1].Size", "Callback.Url"}},

		// Headers.
		{name: "idempotency key too long", header: func(h http.Header) { h.Set("Idempotency-Key", strings.Repeat("k", 256)) }, fields: []string{"Idempotency-Key"}},
	}
}

// TestInvalidBodies: every invalid body is a 400 problem listing exactly
// the failing JSON paths, and nothing reaches the queue.
func TestInvalidBodies(t *testing.T) {
	t.Parallel()
	example := string(readFile(t, "ens-doc-example.json"))
	cases := invalidCases(example)
	if len(cases) < 60 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := []byte(tc.raw)
			if tc.mutate != nil {
				var m obj
				if err := json.Unmarshal([]byte(example), &m); err != nil {
					t.Fatal(err)
				}
				tc.mutate(m)
				body, _ = json.Marshal(m)
			} else if tc.raw == "" && tc.header != nil {
				body = []byte(example)
			}
			if len(body) > 64<<10 {
				t.Fatalf("test body too large: %d", len(body))
			}
			b := setup(t)
			r := post(t, body)
			if tc.header != nil {
				tc.header(r.Header)
			}
			w := b.do(r)
			p := mustProblem(t, w, http.StatusBadRequest)
			var got []string
			for _, f := range p.Errors {
				got = append(got, f.Field)
				if f.Message == "" {
					t.Errorf("%q has no message", f.Field)
				}
			}
			if !slices.Equal(got, tc.fields) {
				t.Errorf("fields = %q, want %q\n%s", got, tc.fields, w.Body)
			}
			if p.Code != string(CodeInvalid) {
				t.Errorf("code = %q", p.Code)
			}
			if n := len(b.queue.Received(t)); n != 0 {
				t.Errorf("queue holds %d messages after a 400", n)
			}
		})
	}
}

// TestAuth: anything but a valid, fresh signature by a configured secret
// is a 401 that looks the same whatever failed.
func TestAuth(t *testing.T) {
	t.Parallel()
	body := readFile(t, "ens-doc-example.json")
	type req = *http.Request
	tests := []struct {
		name   string
		modify func(r req)
		want   int
	}{
		{"valid new secret", func(r req) {}, 202},
		{"valid old secret (rotation)", func(r req) { sign(t, r, secretOld, "msg_1", testNow, body) }, 202},
		{"edge of tolerance past", func(r req) { sign(t, r, secretNew, "msg_1", testNow.Add(-5*time.Minute), body) }, 202},
		{"edge of tolerance future", func(r req) { sign(t, r, secretNew, "msg_1", testNow.Add(5*time.Minute), body) }, 202},
		{"several signatures, one good", func(r req) {
			r.Header.Set(HeaderWebhookSignature, "v1a,AAAA v1,"+strings.Repeat("A", 43)+"= "+r.Header.Get(HeaderWebhookSignature))
		}, 202},
		{"no headers", func(r req) {
			r.Header.Del(HeaderWebhookID)
			r.Header.Del(HeaderWebhookTimestamp)
			r.Header.Del(HeaderWebhookSignature)
		}, 401},
		{"no signature", func(r req) { r.Header.Del(HeaderWebhookSignature) }, 401},
		{"no id", func(r req) { r.Header.Del(HeaderWebhookID) }, 401},
		{"no timestamp", func(r req) { r.Header.Del(HeaderWebhookTimestamp) }, 401},
		{"unknown secret", func(r req) { sign(t, r, "whsec_"+strings.Repeat("A", 32), "msg_1", testNow, body) }, 401},
		{"too old", func(r req) { sign(t, r, secretNew, "msg_1", testNow.Add(-5*time.Minute-time.Second), body) }, 401},
		{"too new", func(r req) { sign(t, r, secretNew, "msg_1", testNow.Add(5*time.Minute+time.Second), body) }, 401},
		{"other id", func(r req) { r.Header.Set(HeaderWebhookID, "msg_2") }, 401},
		{"timestamp not a number", func(r req) { r.Header.Set(HeaderWebhookTimestamp, "now") }, 401},
		{"timestamp leading zero", func(r req) {
			r.Header.Set(HeaderWebhookTimestamp, "0"+r.Header.Get(HeaderWebhookTimestamp))
		}, 401},
		{"wrong version tag", func(r req) {
			r.Header.Set(HeaderWebhookSignature, strings.Replace(r.Header.Get(HeaderWebhookSignature), "v1,", "v2,", 1))
		}, 401},
		{"signature truncated", func(r req) {
			s := r.Header.Get(HeaderWebhookSignature)
			r.Header.Set(HeaderWebhookSignature, s[:len(s)-4])
		}, 401},
		{"signature not base64", func(r req) { r.Header.Set(HeaderWebhookSignature, "v1,!!!!") }, 401},
		{"repeated signature header", func(r req) {
			r.Header.Add(HeaderWebhookSignature, r.Header.Get(HeaderWebhookSignature))
		}, 401},
		{"id with control character", func(r req) { sign(t, r, secretNew, "msg\x01", testNow, body) }, 401},
	}
	var bodies401 []string
	for _, tt := range tests {
		b := setup(t)
		r := post(t, body)
		r.Header.Set("Idempotency-Key", tt.name)
		tt.modify(r)
		w := b.do(r)
		if w.Code != tt.want {
			t.Errorf("%s: status = %d, want %d: %s", tt.name, w.Code, tt.want, w.Body)
			continue
		}
		if tt.want == 401 {
			mustProblem(t, w, 401)
			bodies401 = append(bodies401, w.Body.String())
			if n := len(b.queue.Received(t)); n != 0 {
				t.Errorf("%s: %d messages queued", tt.name, n)
			}
		}
	}
	for _, s := range bodies401[1:] {
		if s != bodies401[0] {
			t.Errorf("401 bodies differ (they must not say what failed):\n%s\n%s", s, bodies401[0])
		}
	}

	// Tampered body: signature over the original.
	b := setup(t)
	r := post(t, body)
	tampered := bytes.Replace(body, []byte(`"DesiredSize":2`), []byte(`"DesiredSize":9`), 1)
	r2 := httptest.NewRequest(http.MethodPost, "/v1/nodepools", bytes.NewReader(tampered))
	r2.Header = r.Header.Clone()
	mustProblem(t, b.do(r2), 401)
}

// TestLibraryInterop: requests signed by the Standard Webhooks reference
// library verify, and our verifier agrees with the library on tampering.
func TestLibraryInterop(t *testing.T) {
	t.Parallel()
	v, err := newVerifier([]string{secretNew}, 5*time.Minute, func() time.Time { return testNow })
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		body := []byte(strings.Repeat("x", i*7))
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		id := "msg_" + strconv.Itoa(i)
		sign(t, r, secretNew, id, testNow.Add(time.Duration(i-25)*time.Second), body)
		if got, _, err := v.verify(r.Header, body); err != nil || got != id {
			t.Errorf("body %d: verify = %q, %v", i, got, err)
		}
		if _, _, err := v.verify(r.Header, append(body, 'y')); err == nil {
			t.Errorf("body %d: tampered body verified", i)
		}
	}
	if _, err := newVerifier([]string{"whsec_short"}, time.Minute, time.Now); err == nil {
		t.Error("short secret accepted")
	}
	if _, err := newVerifier([]string{"whsec_***"}, time.Minute, time.Now); err == nil || strings.Contains(err.Error(), "***") {
		t.Errorf("bad secret: %v", err)
	}
}

func TestTooLarge(t *testing.T) {
	t.Parallel()
	big := append([]byte(`{"ClusterId":"`), bytes.Repeat([]byte("a"), 64<<10)...)
	big = append(big, `"}`...)
	t.Run("content-length", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		mustProblem(t, b.do(post(t, big)), http.StatusRequestEntityTooLarge)
	})
	t.Run("chunked", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		r := post(t, big)
		r.ContentLength = -1 // unknown length: the handler reads MaxBody+1
		r.Body = readerOnly{bytes.NewReader(big)}
		mustProblem(t, b.do(r), http.StatusRequestEntityTooLarge)
	})
	t.Run("exactly the limit is read", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		body := append(readFile(t, "ens-doc-example.json"), bytes.Repeat([]byte(" "), 64<<10)...)
		body = body[:64<<10]
		if w := b.do(post(t, body)); w.Code != http.StatusAccepted {
			t.Errorf("64 KiB body: status %d %s", w.Code, w.Body)
		}
	})
}

type readerOnly struct{ r *bytes.Reader }

func (r readerOnly) Read(p []byte) (int, error) { return r.r.Read(p) }
func (r readerOnly) Close() error               { return nil }

func TestContentType(t *testing.T) {
	t.Parallel()
	body := readFile(t, "ens-doc-example.json")
	tests := map[string]int{
		"application/json":                  202,
		"application/json; charset=utf-8":   202,
		"Application/JSON; charset=UTF-8":   202,
		"application/merge-patch+json":      202,
		"":                                  415,
		"text/plain":                        415,
		"application/x-www-form-urlencoded": 415,
		"application/json; charset=latin1":  415,
		"application/json;;":                415,
	}
	for ct, want := range tests {
		b := setup(t)
		r := post(t, body)
		r.Header.Set("Content-Type", ct)
		w := b.do(r)
		if w.Code != want {
			t.Errorf("Content-Type %q: status %d, want %d", ct, w.Code, want)
		}
		if want == 415 {
			mustProblem(t, w, 415)
		}
	}
}

// TestQueueFailure: a failed send is a 503 with Retry-After and no
// Location; retrying after recovery gets the same RequestId.
func TestQueueFailure(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body := readFile(t, "ens-doc-example.json")
	b.queue.Fail(true)
	w := b.do(post(t, body))
	p := mustProblem(t, w, http.StatusServiceUnavailable)
	if ra := w.Header().Get("Retry-After"); ra != "5" {
		t.Errorf("Retry-After = %q", ra)
	}
	if w.Header().Get("Location") != "" {
		t.Error("Location set on 503")
	}
	if strings.Contains(w.Body.String(), "connection refused") {
		t.Error("503 leaks the cause")
	}
	if len(b.queue.Received(t)) != 0 {
		t.Error("message queued despite failure")
	}
	b.queue.Fail(false)
	w2 := b.do(post(t, body))
	var got accepted
	_ = json.Unmarshal(w2.Body.Bytes(), &got)
	if w2.Code != 202 || got.RequestId != p.RequestId || p.RequestId == "" {
		t.Errorf("retry: %d %+v, want RequestId %q", w2.Code, got, p.RequestId)
	}
}

func TestIdempotentRequestID(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body := readFile(t, "ens-doc-example.json")
	id := func(key, msgID string) string {
		r := post(t, body)
		sign(t, r, secretNew, msgID, testNow, body)
		if key != "" {
			r.Header.Set("Idempotency-Key", key)
		}
		w := b.do(r)
		var a accepted
		if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil || w.Code != 202 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		return a.RequestId
	}
	if id("k1", "msg_a") != id("k1", "msg_b") {
		t.Error("same Idempotency-Key, different RequestId")
	}
	if id("", "msg_a") != id("", "msg_a") {
		t.Error("same webhook-id, different RequestId")
	}
	if id("", "msg_a") == id("", "msg_b") {
		t.Error("different webhook-ids share a RequestId")
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()
	pool := ens.NodePool{
		ClusterId:    "eck-demo0001",
		NodepoolInfo: ens.NodepoolInfo{Name: "p1", NodepoolId: "np1"},
		ScalingGroup: ens.ScalingGroup{Password: "Secret-123", ImageId: "m-1"},
		Status:       ens.NodePoolStatus{State: "active", DesiredNodes: 2, ServingNodes: 2, TotalNodes: 2},
	}
	reader := fakePools{fn: func(ctx context.Context, id string) ([]ens.NodePool, error) {
		switch id {
		case "eck-demo0001":
			return []ens.NodePool{{NodepoolInfo: ens.NodepoolInfo{Name: "other"}}, pool}, nil
		case "eck-down":
			return nil, errors.New("ens: Throttling.User")
		}
		return nil, ens.ErrNotFound
	}}
	get := func(b *testBundle, path string, signed bool) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		if signed {
			sign(t, r, secretOld, "msg_status", testNow, []byte(r.URL.EscapedPath()))
		}
		return b.do(r)
	}
	b := setup(t, func(c *Config) { c.Pools = reader })
	w := get(b, "/v1/clusters/eck-demo0001/nodepools/p1", true)
	if w.Code != 200 {
		t.Fatalf("status %d %s", w.Code, w.Body)
	}
	var got ens.NodePool
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.ScalingGroup.Password != nodepool.Mask || got.NodepoolInfo.NodepoolId != "np1" || got.Status.State != "active" {
		t.Errorf("status body = %s", w.Body)
	}
	if strings.Contains(w.Body.String(), "Secret-123") {
		t.Error("password in status response")
	}
	for path, want := range map[string]int{
		"/v1/clusters/eck-demo0001/nodepools/absent": 404,
		"/v1/clusters/eck-gone/nodepools/p1":         404,
		"/v1/clusters/eck-down/nodepools/p1":         503,
		"/v1/clusters/ECK-1/nodepools/p.1":           400,
	} {
		w := get(b, path, true)
		p := mustProblem(t, w, want)
		if want == 400 && len(p.Errors) != 2 {
			t.Errorf("%s: errors %+v", path, p.Errors)
		}
	}
	mustProblem(t, get(b, "/v1/clusters/eck-demo0001/nodepools/p1", false), 401)

	// The signature binds the path: the one for p1 does not read p2, nor
	// does an empty-body signature read anything.
	r := httptest.NewRequest(http.MethodGet, "/v1/clusters/eck-demo0001/nodepools/other", nil)
	sign(t, r, secretOld, "msg_status", testNow, []byte("/v1/clusters/eck-demo0001/nodepools/p1"))
	mustProblem(t, b.do(r), 401)
	r = httptest.NewRequest(http.MethodGet, "/v1/clusters/eck-demo0001/nodepools/p1", nil)
	sign(t, r, secretOld, "msg_status", testNow, nil)
	mustProblem(t, b.do(r), 401)
	pub := setup(t, func(c *Config) { c.Pools = reader; c.PublicStatus = true })
	if w := get(pub, "/v1/clusters/eck-demo0001/nodepools/p1", false); w.Code != 200 {
		t.Errorf("public status: %d", w.Code)
	}
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := b.do(httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"ok"`) {
		t.Errorf("healthz: %d %s", w.Code, w.Body)
	}
	mustProblem(t, b.do(httptest.NewRequest(http.MethodGet, "/nope", nil)), 404)
	w = b.do(httptest.NewRequest(http.MethodGet, "/v1/nodepools", nil))
	mustProblem(t, w, 405)
	if w.Header().Get("Allow") != "POST" {
		t.Errorf("Allow = %q", w.Header().Get("Allow"))
	}
	mustProblem(t, b.do(httptest.NewRequest(http.MethodDelete, "/v1/clusters/eck-a/nodepools/p", nil)), 405)
}

func TestConfig(t *testing.T) {
	t.Parallel()
	good := setup(t).h.cfg
	bad := map[string]func(c *Config){
		"no secrets":  func(c *Config) { c.Secrets = nil },
		"bad secret":  func(c *Config) { c.Secrets = []string{"whsec_%%%"} },
		"no sealer":   func(c *Config) { c.Sealer = nil },
		"no queue":    func(c *Config) { c.Queue = nil },
		"no pools":    func(c *Config) { c.Pools = nil },
		"bad base":    func(c *Config) { c.StatusURLBase = "hooks.example.com" },
		"negative":    func(c *Config) { c.MaxBody = -1 },
		"retry < 1 s": func(c *Config) { c.RetryAfter = time.Millisecond },
	}
	for name, mod := range bad {
		c := good
		mod(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: New accepted the config", name)
		}
	}
}

// TestLogs: JSON log lines carry the FC request id and the RequestId, and
// never a secret, password, signature or body.
func TestLogs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body := readFile(t, "ens-doc-example.json")
	r := post(t, body)
	r = r.WithContext(fcadapter.NewContext(r.Context(), fcadapter.Invocation{RequestID: "fc-inv-1"}))
	sig := r.Header.Get(HeaderWebhookSignature)
	w := b.do(r)
	if w.Code != 202 {
		t.Fatalf("%d", w.Code)
	}
	r2 := post(t, body)
	r2 = r2.WithContext(fcadapter.NewContext(r2.Context(), fcadapter.Invocation{RequestID: "fc-inv-2"}))
	r2.Header.Set(HeaderWebhookSignature, "v1,"+strings.Repeat("B", 43)+"=")
	b.do(r2)
	b.queue.Fail(true)
	b.do(post(t, body))

	logs := b.logs.String()
	for _, secret := range []string{"Ab1!&=+ x", secretNew[6:], secretOld[6:], sig[3:], "AQEBAQEB", "ZWNobyBvawo", "BBBBBBBB"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q:\n%s", secret, logs)
		}
	}
	var accessLines int
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON log line: %q", line)
		}
		if m["msg"] == "intake: request" {
			accessLines++
		}
	}
	if accessLines != 3 {
		t.Errorf("access lines = %d, want 3", accessLines)
	}
	for _, want := range []string{`"fcRequestId":"fc-inv-1"`, `"fcRequestId":"fc-inv-2"`, `"RequestId":"req_`, `"reason":"no matching signature"`, `"status":503`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
}

// TestIdempotencyKeyReused: a retry with the same key and body is accepted
// again under the same RequestId; the same key with another body is
// refused with 422 and nothing more is queued. A key whose first request
// was refused (400) is still free.
func TestIdempotencyKeyReused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body := readFile(t, "full.json")
	send := func(body []byte, key string) *httptest.ResponseRecorder {
		r := post(t, body)
		r.Header.Set("Idempotency-Key", key)
		return b.do(r)
	}
	first, retry := send(body, "order-7"), send(body, "order-7")
	if first.Code != http.StatusAccepted || retry.Code != http.StatusAccepted {
		t.Fatalf("first %d, retry %d; want 202 twice", first.Code, retry.Code)
	}
	other := bytes.Replace(body, []byte(`"DesiredSize": 3`), []byte(`"DesiredSize": 4`), 1)
	if bytes.Equal(other, body) {
		t.Fatal("test body not changed")
	}
	w := send(other, "order-7")
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), `"code":"idempotency_key_reused"`) ||
		!strings.Contains(w.Body.String(), nodepool.RequestID("order-7", "")) {
		t.Fatalf("reused key: %d %s; want 422 idempotency_key_reused naming the RequestId", w.Code, w.Body)
	}
	if n := len(b.queue.Received(t)); n != 2 {
		t.Errorf("queue holds %d messages, want 2 (the request and its retry)", n)
	}
	bad := bytes.Replace(body, []byte(`"DesiredSize": 3`), []byte(`"DesiredSize": 400`), 1)
	if w := send(bad, "order-8"); w.Code != http.StatusBadRequest {
		t.Fatalf("invalid body: %d", w.Code)
	}
	if w := send(body, "order-8"); w.Code != http.StatusAccepted {
		t.Errorf("key of a refused request: %d %s, want 202", w.Code, w.Body)
	}
	var refused int
	for _, rec := range auditRecords(t, b.logs.String()) {
		if rec["Decision"] == caller.DecisionDenied && strings.HasPrefix(rec["Reason"].(string), "idempotency key reused") {
			refused++
			if rec["RequestId"] != nodepool.RequestID("order-7", "") || rec["Source"] != caller.SourceAPI {
				t.Errorf("audit of the reused key: %v", rec)
			}
		}
	}
	if refused != 1 {
		t.Errorf("%d audit records of a reused key, want 1", refused)
	}
}

// TestAdmissionCodes: every refusal of pkg/admission has its status in
// the one table, and its problem says what the refusal says.
func TestAdmissionCodes(t *testing.T) {
	t.Parallel()
	want := map[admission.Code]int{
		admission.CodeInvalid: 400, admission.CodeForbidden: 403, admission.CodeKeyReused: 422, admission.CodeUnavailable: 503,
		admission.CodeClusterNotFound: 422,
	}
	h := setup(t).h
	for _, c := range admission.Codes() {
		w := httptest.NewRecorder()
		err := fmt.Errorf("wrapped: %w", &admission.Error{Code: c, Message: "what the caller may read", Err: errors.New("cause for logs")})
		status := h.writeProblem(w, err, "req_1")
		if status != want[c] || ErrorCode(err) != Code(c) {
			t.Errorf("%s: status %d, code %s; want %d", c, status, ErrorCode(err), want[c])
		}
		p := mustProblem(t, w, want[c])
		if p.Detail != "what the caller may read" || p.RequestId != "req_1" || strings.Contains(w.Body.String(), "cause for logs") {
			t.Errorf("%s: problem %s", c, w.Body)
		}
	}
}
