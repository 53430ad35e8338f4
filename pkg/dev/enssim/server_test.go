package enssim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/dev/enssim"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
	"github.com/ensnodepool/webhook/pkg/ens"
)

var update = flag.Bool("update", false, "rewrite golden files")

const (
	testAK     = "LTAI5tTestKey"
	testSecret = "test-secret"
)

type testBundle struct {
	sim    *enssim.Server
	srv    *httptest.Server
	client *ens.Client
	clock  *testkit.Clock
}

// setup starts a simulator on a fake clock (provisioning 4s) with a second
// cluster in another region, and a client without client-side limiting or
// retries so that the server's answers reach the test.
func setup(t *testing.T, mod func(*enssim.Config)) *testBundle {
	t.Helper()
	b := &testBundle{clock: testkit.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))}
	cfg := enssim.Config{
		AccessKeyID: testAK, AccessKeySecret: testSecret, ProvisionTime: 4 * time.Second, Now: b.clock.Now,
		Clusters: append(enssim.DefaultClusters(), enssim.ClusterSeed{
			ClusterId: "eck-other001", Name: "other", EnsRegionId: "cn-beijing-15", VswitchIds: []string{"vsw-bj0001"},
		}),
	}
	if mod != nil {
		mod(&cfg)
	}
	sim, err := enssim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b.sim = sim
	b.srv = httptest.NewServer(sim)
	t.Cleanup(func() { sim.Close(); b.srv.Close() })
	b.client, err = ens.New(ens.Config{
		Endpoint: strings.TrimPrefix(b.srv.URL, "http://"), Protocol: "HTTP",
		Credentials: ens.Credentials{AccessKeyID: testAK, AccessKeySecret: testSecret},
		WriteRate:   1e6, DescribeRate: 1e6, MaxAttempts: 1, ReadTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func createRequest(name string) *ens.CreateClusterNodePoolRequest {
	return &ens.CreateClusterNodePoolRequest{
		ClusterId:    "eck-demo0001",
		NodepoolInfo: &ens.NodepoolInfo{Name: name},
		ScalingGroup: &ens.ScalingGroup{
			DesiredSize: 4, ImageId: "m-demo", InstanceTypes: []string{"ens.sn1.small"},
			KeyPairName: "kp1", SystemDiskCategory: "cloud_efficiency", SystemDiskSize: 40,
			VswitchIds: []string{"vsw-demo0001", "vsw-demo0002"},
		},
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		mutate   func(r *ens.CreateClusterNodePoolRequest)
		wantCode string
	}{
		{"missing cluster", func(r *ens.CreateClusterNodePoolRequest) { r.ClusterId = "" }, "MissingParameter"},
		{"unknown cluster", func(r *ens.CreateClusterNodePoolRequest) { r.ClusterId = "eck-nope" }, "InvalidClusterId.NotFound"},
		{"missing NodepoolInfo", func(r *ens.CreateClusterNodePoolRequest) { r.NodepoolInfo = nil }, "MissingParameter"},
		{"missing ScalingGroup", func(r *ens.CreateClusterNodePoolRequest) { r.ScalingGroup = nil }, "MissingParameter"},
		{"missing name", func(r *ens.CreateClusterNodePoolRequest) { r.NodepoolInfo.Name = "" }, "MissingParameter"},
		{"missing image", func(r *ens.CreateClusterNodePoolRequest) { r.ScalingGroup.ImageId = "" }, "MissingParameter"},
		{"missing instance types", func(r *ens.CreateClusterNodePoolRequest) { r.ScalingGroup.InstanceTypes = nil }, "MissingParameter"},
		{"missing vswitches", func(r *ens.CreateClusterNodePoolRequest) { r.ScalingGroup.VswitchIds = nil }, "MissingParameter"},
		{"system disk too small", func(r *ens.CreateClusterNodePoolRequest) { r.ScalingGroup.SystemDiskSize = 10 }, "InvalidParameter.SystemDiskSize"},
		{"system disk not ×10", func(r *ens.CreateClusterNodePoolRequest) { r.ScalingGroup.SystemDiskSize = 45 }, "InvalidParameter.SystemDiskSize"},
		{"system disk category", func(r *ens.CreateClusterNodePoolRequest) { r.ScalingGroup.SystemDiskCategory = "ssd" }, "InvalidParameter.SystemDiskCategory"},
		{"data disk category", func(r *ens.CreateClusterNodePoolRequest) {
			r.ScalingGroup.DataDisks = []ens.DataDisk{{Category: "cloud", Size: 20}}
		}, "InvalidParameter.DataDisks.Category"},
		{"data disk size", func(r *ens.CreateClusterNodePoolRequest) {
			r.ScalingGroup.DataDisks = []ens.DataDisk{{Category: "cloud_ssd", Size: 15}}
		}, "InvalidParameter.DataDisks.Size"},
		{"key pair and password", func(r *ens.CreateClusterNodePoolRequest) { r.ScalingGroup.Password = "Ab1!abcd" }, "InvalidParameter.KeyPairName"},
		{"neither key pair nor password", func(r *ens.CreateClusterNodePoolRequest) { r.ScalingGroup.KeyPairName = "" }, "MissingParameter"},
		{"charge type", func(r *ens.CreateClusterNodePoolRequest) { r.ScalingGroup.InstanceChargeType = "Free" }, "InvalidParameter.InstanceChargeType"},
		{"negative size", func(r *ens.CreateClusterNodePoolRequest) { r.ScalingGroup.DesiredSize = -1 }, "InvalidParameter.DesiredSize"},
		{"vswitch in other region", func(r *ens.CreateClusterNodePoolRequest) { r.ScalingGroup.VswitchIds = []string{"vsw-bj0001"} }, "InvalidParameter.VswitchIds"},
		{"unknown vswitch", func(r *ens.CreateClusterNodePoolRequest) { r.ScalingGroup.VswitchIds = []string{"vsw-nope"} }, "InvalidParameter.VswitchIds"},
		{"user data not base64", func(r *ens.CreateClusterNodePoolRequest) {
			r.KubernetesConfig = &ens.KubernetesConfig{UserData: "#!/bin/sh"}
		}, "InvalidParameter.UserData"},
	}
	b := setup(t, func(c *enssim.Config) { c.WriteRate = 1000 }) // the fake clock stands still
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := createRequest("p1")
			tt.mutate(req)
			_, err := b.client.CreateClusterNodePool(ctx(t), req)
			ae, ok := ens.AsAPIError(err)
			if !ok || ae.Code != tt.wantCode {
				t.Fatalf("err = %v, want code %s", err, tt.wantCode)
			}
			if ae.HTTPStatus != 400 && ae.HTTPStatus != 404 {
				t.Errorf("status = %d, want 4xx", ae.HTTPStatus)
			}
		})
	}
	t.Run("page size", func(t *testing.T) {
		t.Parallel()
		_, err := b.client.DescribeClusterNodePoolsPage(ctx(t), "eck-demo0001", 1, 51)
		if ae, ok := ens.AsAPIError(err); !ok || ae.Code != "InvalidParameter.PageSize" {
			t.Errorf("err = %v, want InvalidParameter.PageSize", err)
		}
	})
}

func TestProvisioning(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	c := b.client
	created, err := c.CreateClusterNodePool(ctx(t), createRequest("p1"))
	if err != nil {
		t.Fatal(err)
	}
	id := created.Nodepool.NodepoolInfo.NodepoolId
	status := func() ens.NodePoolStatus {
		t.Helper()
		ps, err := c.DescribeClusterNodePools(ctx(t), "eck-demo0001")
		if err != nil || len(ps) != 1 {
			t.Fatalf("describe = %v, %v", ps, err)
		}
		return ps[0].Status
	}
	steps := []struct {
		advance time.Duration
		want    ens.NodePoolStatus
	}{
		{0, ens.NodePoolStatus{DesiredNodes: 4, InitialNodes: 4, TotalNodes: 4, State: "initial"}},
		{time.Second, ens.NodePoolStatus{DesiredNodes: 4, InitialNodes: 3, ServingNodes: 1, TotalNodes: 4, State: "initial"}},
		{2 * time.Second, ens.NodePoolStatus{DesiredNodes: 4, InitialNodes: 1, ServingNodes: 3, TotalNodes: 4, State: "initial"}},
		{time.Second, ens.NodePoolStatus{DesiredNodes: 4, ServingNodes: 4, TotalNodes: 4, State: "active"}},
	}
	for _, s := range steps {
		b.clock.Advance(s.advance)
		if got := status(); got != s.want {
			t.Errorf("after +%v: status = %+v, want %+v", s.advance, got, s.want)
		}
	}
	if err := c.ScaleClusterNodePool(ctx(t), "eck-demo0001", id, 4); err == nil {
		t.Error("scale to the current size: want InvalidParameter.Count")
	}
	if err := c.ScaleClusterNodePool(ctx(t), "eck-demo0001", id, 6); err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(2 * time.Second)
	if got, want := status(), (ens.NodePoolStatus{DesiredNodes: 6, InitialNodes: 1, ServingNodes: 5, TotalNodes: 6, State: "scaling"}); got != want {
		t.Errorf("scaling status = %+v, want %+v", got, want)
	}
	b.clock.Advance(2 * time.Second)
	if got := status(); got.State != "active" || got.ServingNodes != 6 {
		t.Errorf("scaled status = %+v, want active 6", got)
	}
}

func TestFailAndVanish(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	c := b.client
	// A rule registered before the create: fails half-way.
	if n, err := b.sim.FailPool("eck-demo0001", "doomed", 0); err != nil || n != 0 {
		t.Fatalf("FailPool = %d, %v", n, err)
	}
	if _, err := c.CreateClusterNodePool(ctx(t), createRequest("doomed")); err != nil {
		t.Fatal(err)
	}
	created, _ := c.CreateClusterNodePool(ctx(t), createRequest("fine"))
	b.clock.Advance(3 * time.Second)
	ps := b.sim.Pools("eck-demo0001")
	if got, want := ps[0].Status, (ens.NodePoolStatus{DesiredNodes: 4, InitialNodes: 2, ServingNodes: 2, TotalNodes: 4, State: "failed"}); got != want {
		t.Errorf("doomed = %+v, want %+v", got, want)
	}
	if ps[1].Status.State != "initial" {
		t.Errorf("fine = %+v, want initial", ps[1].Status)
	}
	// A rule on a pool already provisioning fails it now.
	if n, err := b.sim.FailPool("eck-demo0001", "fine", 0); err != nil || n != 1 {
		t.Errorf("FailPool(existing) = %d, %v; want 1", n, err)
	}
	if st := b.sim.Pools("eck-demo0001")[1].Status; st.State != "failed" || st.ServingNodes != 3 {
		t.Errorf("fine after FailPool = %+v, want failed with 3 serving", st)
	}
	if err := c.ScaleClusterNodePool(ctx(t), "eck-demo0001", created.Nodepool.NodepoolInfo.NodepoolId, 8); !errors.Is(err, ens.ErrInvalid) {
		t.Errorf("scale failed pool = %v, want ErrInvalid", err)
	}
	if n, _ := b.sim.Vanish("eck-demo0001", created.Nodepool.NodepoolInfo.NodepoolId, ""); n != 1 {
		t.Errorf("Vanish = %d, want 1", n)
	}
	if ps, _ := c.DescribeClusterNodePools(ctx(t), "eck-demo0001"); len(ps) != 1 || ps[0].NodepoolInfo.Name != "doomed" {
		t.Errorf("after vanish: %+v", ps)
	}
}

// TestDuplicateNames: the simulator creates a second pool for a duplicate
// name and counts both creates.
func TestDuplicateNames(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	for range 2 {
		if _, err := b.client.CreateClusterNodePool(ctx(t), createRequest("dup")); err != nil {
			t.Fatal(err)
		}
	}
	st := b.sim.Stats()
	if st.Pools != 2 || len(st.Creates) != 1 || st.Creates[0] != (enssim.CreateCount{ClusterId: "eck-demo0001", Name: "dup", Count: 2}) {
		t.Errorf("stats = %+v, want 2 pools and creates dup=2", st)
	}
}

// TestRateLimit: the 11th create within one second is throttled with
// Throttling.User, HTTP 400 and a TimeLeft; the window then slides.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	for i := range 10 {
		if _, err := b.client.CreateClusterNodePool(ctx(t), createRequest("p")); err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
		b.clock.Advance(50 * time.Millisecond)
	}
	_, err := b.client.CreateClusterNodePool(ctx(t), createRequest("p"))
	ae, ok := ens.AsAPIError(err)
	if !ok || ae.Code != "Throttling.User" || ae.HTTPStatus != 400 || !errors.Is(err, ens.ErrThrottled) {
		t.Fatalf("11th create: %v, want Throttling.User/400", err)
	}
	if got, want := ae.RetryAfter, 500*time.Millisecond; got != want {
		t.Errorf("RetryAfter = %v, want %v", got, want)
	}
	// Describe has its own window.
	if _, err := b.client.DescribeClusterDetail(ctx(t), "eck-demo0001"); err != nil {
		t.Errorf("describe while creates are throttled: %v", err)
	}
	b.clock.Advance(500 * time.Millisecond)
	if _, err := b.client.CreateClusterNodePool(ctx(t), createRequest("p")); err != nil {
		t.Errorf("create after the window slid: %v", err)
	}
	st := b.sim.Stats()
	if st.Throttled != 1 || st.MaxPerSecond["CreateClusterNodePool"] != 11 || st.Calls["CreateClusterNodePool"] != 12 {
		t.Errorf("stats = %+v, want throttled 1, max 11 calls in a window, 12 calls", st)
	}
}

// TestDurable: pools, fail rules and the provisioning time survive a restart.
func TestDurable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clk := testkit.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	cfg := enssim.Config{AccessKeyID: testAK, AccessKeySecret: testSecret, Dir: dir, Now: clk.Now}
	s1, err := enssim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s1.SetProvisionTime(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s1)
	c, _ := ens.New(ens.Config{Endpoint: strings.TrimPrefix(srv.URL, "http://"), Protocol: "HTTP",
		Credentials: ens.Credentials{AccessKeyID: testAK, AccessKeySecret: testSecret}})
	if _, err := c.CreateClusterNodePool(ctx(t), createRequest("kept")); err != nil {
		t.Fatal(err)
	}
	s1.FailPool("eck-demo0001", "later", 0)
	srv.Close()
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}

	s2, err := enssim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := s2.ProvisionTime(); got != 2*time.Second {
		t.Errorf("provision time after restart = %v, want 2s", got)
	}
	clk.Advance(2 * time.Second)
	ps := s2.Pools("")
	if len(ps) != 1 || ps[0].NodepoolInfo.Name != "kept" || ps[0].Status.State != "active" {
		t.Errorf("pools after restart = %+v", ps)
	}
	if err := s2.Reset(); err != nil {
		t.Fatal(err)
	}
	if ps := s2.Pools(""); len(ps) != 0 {
		t.Errorf("after reset %d pools", len(ps))
	}
}

var errorKeys = []string{"Code", "HostId", "Message", "Recommend", "RequestId"}

// TestErrorBodies: malformed requests get JSON error bodies with the API's
// keys, never plain text.
func TestErrorBodies(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	tests := []struct {
		name, method, target string
		header               map[string]string
		wantStatus           int
		wantCode             string
	}{
		{"unsigned", "POST", "/?Action=DescribeClustersV1&Version=2017-11-10", nil, 400, "IncompleteSignature"},
		{"no action", "POST", "/?Version=2017-11-10", nil, 400, "MissingParameter"},
		{"bad version", "POST", "/?Action=DescribeClustersV1&Version=2020-01-01", nil, 400, "InvalidVersion"},
		{"garbage authorization", "POST", "/", map[string]string{"Authorization": "ACS3-HMAC-SHA256 nonsense",
			"x-acs-action": "DescribeClustersV1", "x-acs-version": "2017-11-10"}, 400, "IncompleteSignature"},
		{"other path", "GET", "/foo", nil, 404, "InvalidAction.NotFound"},
		{"method", "PUT", "/", nil, 405, "UnsupportedHTTPMethod"},
		{"v1 bad signature", "GET", "/?Action=DescribeClustersV1&Version=2017-11-10&AccessKeyId=" + testAK +
			"&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&Signature=abc", nil, 403, "SignatureDoesNotMatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, b.srv.URL+tt.target, nil)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]string
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			if resp.StatusCode != tt.wantStatus || body["Code"] != tt.wantCode {
				t.Errorf("got %d %s, want %d %s", resp.StatusCode, body["Code"], tt.wantStatus, tt.wantCode)
			}
			for _, k := range errorKeys {
				if body[k] == "" {
					t.Errorf("error body lacks %s: %v", k, body)
				}
			}
		})
	}
}

// TestGoldenShapes pins the exact JSON of the answers (ids normalized).
func TestGoldenShapes(t *testing.T) {
	t.Parallel()
	var raw [][]byte
	b := setup(t, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		b.sim.ServeHTTP(rec, r)
		raw = append(raw, rec.Body.Bytes())
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}))
	defer srv.Close()
	c, _ := ens.New(ens.Config{Endpoint: strings.TrimPrefix(srv.URL, "http://"), Protocol: "HTTP", MaxAttempts: 1,
		Credentials: ens.Credentials{AccessKeyID: testAK, AccessKeySecret: testSecret}})
	req := createRequest("golden")
	req.ScalingGroup.KeyPairName, req.ScalingGroup.Password = "", "Secret1!"
	req.KubernetesConfig = &ens.KubernetesConfig{UserData: "ZWNobyBvawo="}
	c.CreateClusterNodePool(ctx(t), req)
	c.DescribeClusterNodePoolsPage(ctx(t), "eck-demo0001", 1, 10)
	c.DescribeClusterDetail(ctx(t), "eck-demo0001")
	c.DescribeClustersV1(ctx(t), ens.ClusterFilter{})
	c.DescribeClusterDetail(ctx(t), "eck-missing")

	ids := regexp.MustCompile(`"(RequestId|NodepoolId)":"[^"]+"`)
	var got bytes.Buffer
	for _, r := range raw {
		got.Write(ids.ReplaceAll(r, []byte(`"$1":"<id>"`)))
		got.WriteByte('\n')
	}
	path := filepath.Join("testdata", "responses.golden")
	if *update {
		os.WriteFile(path, got.Bytes(), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("responses differ from %s (go test -update to rewrite):\n%s", path, got.String())
	}
}

// TestAdminAPI exercises every admin endpoint over HTTP.
func TestAdminAPI(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	call := func(method, path, body string, wantStatus int) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(method, b.srv.URL+"/_emulator/"+path, strings.NewReader(body))
		if method == http.MethodPost {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != wantStatus {
			t.Fatalf("%s %s = %d %s, want %d", method, path, resp.StatusCode, raw, wantStatus)
		}
		var out map[string]any
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: not JSON: %s", method, path, raw)
		}
		return out
	}
	call("POST", "provisioning", `{"provisionTime":"2s"}`, 200)
	if got := call("GET", "provisioning", "", 200)["provisionTime"]; got != "2s" {
		t.Errorf("provisionTime = %v, want 2s", got)
	}
	call("POST", "faults", `{"action":"DescribeClusterDetail","count":1,"code":"ServiceUnavailable","status":503}`, 200)
	call("POST", "faults", `{"action":"x","count":0,"code":"X"}`, 400)
	if fs := call("GET", "faults", "", 200)["faults"].([]any); len(fs) != 1 {
		t.Errorf("faults = %v, want 1", fs)
	}
	_, err := b.client.DescribeClusterDetail(ctx(t), "eck-demo0001")
	if ae, ok := ens.AsAPIError(err); !ok || ae.HTTPStatus != 503 {
		t.Errorf("faulted describe = %v, want 503", err)
	}
	call("POST", "faults", `{"count":5,"delay":"1s"}`, 200)
	call("DELETE", "faults", "", 200)
	if _, err := b.client.DescribeClusterDetail(ctx(t), "eck-demo0001"); err != nil {
		t.Errorf("describe after clearing faults: %v", err)
	}
	call("POST", "fail", `{"clusterId":"eck-demo0001","name":"bad"}`, 200)
	b.client.CreateClusterNodePool(ctx(t), createRequest("bad"))
	b.client.CreateClusterNodePool(ctx(t), createRequest("gone"))
	b.clock.Advance(time.Second)
	pools := call("GET", "pools", "", 200)["pools"].([]any)
	if len(pools) != 2 || pools[0].(map[string]any)["Status"].(map[string]any)["State"] != "failed" {
		t.Errorf("pools = %v, want 2 with the first failed", pools)
	}
	if got := call("POST", "vanish", `{"clusterId":"eck-demo0001","name":"gone"}`, 200)["removed"]; got != 1.0 {
		t.Errorf("vanish removed %v, want 1", got)
	}
	stats := call("GET", "stats", "", 200)
	if stats["calls"].(map[string]any)["DescribeClusterDetail"] != 2.0 || stats["faultsInjected"] != 1.0 || stats["pools"] != 1.0 {
		t.Errorf("stats = %v", stats)
	}
	call("POST", "reset", "", 200)
	if got := call("GET", "stats", "", 200)["pools"]; got != 0.0 {
		t.Errorf("pools after reset = %v", got)
	}
	call("GET", "nope", "", 404)
	call("POST", "fail", `{"bogus":1}`, 400)
}

// TestV1FormBody: parameters may come in a form body (V1 signs them too).
func TestV1FormBody(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	// Sign with the SDK's V1 path through our client, then replay the query
	// as a form body: the signature covers query ∪ form.
	var captured *http.Request
	var body string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		captured = r.Clone(context.Background())
		body = r.URL.RawQuery
		r.URL.RawQuery = ""
		r.Body = io.NopCloser(strings.NewReader(body))
		r.ContentLength = int64(len(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		b.sim.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	c, _ := ens.New(ens.Config{Endpoint: strings.TrimPrefix(proxy.URL, "http://"), Protocol: "HTTP", SignatureV1: true, MaxAttempts: 1,
		Credentials: ens.Credentials{AccessKeyID: testAK, AccessKeySecret: testSecret}})
	if _, err := c.DescribeClusterDetail(ctx(t), "eck-demo0001"); err != nil {
		t.Fatalf("form-body V1 call: %v", err)
	}
	if captured == nil || !strings.Contains(body, "Signature=") {
		t.Errorf("no V1 signature in %q", body)
	}
}

// TestProvisionSpread: with a spread set through the admin API, pools
// created at the same moment become active at different times within
// [ProvisionTime, ProvisionTime + spread), each at a time fixed by its name.
func TestProvisionSpread(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *enssim.Config) { c.WriteRate = 1000 })
	req, _ := http.NewRequest("POST", b.srv.URL+"/_emulator/provisioning", strings.NewReader(`{"provisionTime":"10s","provisionSpread":"100s"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST provisioning: %v %v", resp, err)
	}
	resp.Body.Close()
	const n = 40
	for i := range n {
		if _, err := b.client.CreateClusterNodePool(ctx(t), createRequest(fmt.Sprintf("spread-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	active := func() int {
		k := 0
		for _, p := range b.sim.Pools("eck-demo0001") {
			if p.Status.State == "active" {
				k++
			}
		}
		return k
	}
	b.clock.Advance(10*time.Second - time.Millisecond)
	if k := active(); k != 0 {
		t.Errorf("%d pools active before ProvisionTime", k)
	}
	b.clock.Advance(50 * time.Second) // half the spread
	if k := active(); k < n/5 || k > n*4/5 {
		t.Errorf("%d of %d pools active half way through the spread, want roughly half", k, n)
	}
	b.clock.Advance(50 * time.Second)
	if k := active(); k != n {
		t.Errorf("%d of %d pools active after ProvisionTime + spread", k, n)
	}
}

// TestNewKeepsTheCallersClusters: the defaults New fills in (State,
// KubernetesVersion) go into its own copy, not into the caller's seeds.
func TestNewKeepsTheCallersClusters(t *testing.T) {
	t.Parallel()
	seeds := []enssim.ClusterSeed{{ClusterId: "eck-seed0001", Name: "seed", EnsRegionId: "cn-test-1", VswitchIds: []string{"vsw-seed0001"}}}
	srv, err := enssim.New(enssim.Config{AccessKeyID: testAK, AccessKeySecret: testSecret, Clusters: seeds})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if seeds[0].State != "" || seeds[0].KubernetesVersion != "" {
		t.Errorf("New wrote its defaults into the caller's seeds: %+v", seeds[0])
	}
}

// TestAdminRefusesBrowsers: what a page in the developer's browser can
// send without a CORS preflight — a text/plain or form POST, or a request
// under a rebound host name — changes nothing (here: no pool is reset).
func TestAdminRefusesBrowsers(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	if err := b.sim.InjectFault(enssim.Fault{Action: "CreateClusterNodePool", Count: 1, Code: "Throttling.User", Status: 400}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, host, ctype string
		want              int
	}{
		{"reset", "127.0.0.1:9200", "text/plain", 415},
		{"reset", "127.0.0.1:9200", "", 415},
		{"faults", "localhost", "application/x-www-form-urlencoded", 415},
		{"reset", "evil.example", "application/json", 403},
		{"stats", "evil.example", "", 403},
	} {
		method := map[bool]string{true: "GET", false: "POST"}[tc.path == "stats"]
		r := httptest.NewRequest(method, "/_emulator/"+tc.path, strings.NewReader(`{}`))
		r.Host = tc.host
		if tc.ctype != "" {
			r.Header.Set("Content-Type", tc.ctype)
		}
		w := httptest.NewRecorder()
		b.sim.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%s %s Host %s %q: %d %s, want %d", method, tc.path, tc.host, tc.ctype, w.Code, w.Body, tc.want)
		}
	}
	if n := len(b.sim.Faults()); n != 1 {
		t.Errorf("faults %d after refused requests, want the 1 injected (no reset ran)", n)
	}
}
