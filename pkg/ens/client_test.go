package ens_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/dev/enssim"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
	"github.com/ensnodepool/webhook/pkg/ens"
)

const (
	testAK     = "LTAI5tTestKey"
	testSecret = "test-secret"
)

type testBundle struct {
	sim    *enssim.Server
	srv    *httptest.Server
	client *ens.Client
	clock  *testkit.Clock // nil: the simulator runs on real time
	// queries records the raw query of every API call the simulator saw.
	mu      sync.Mutex
	queries []string
}

type setupOpts struct {
	fakeClock bool
	simCfg    func(*enssim.Config)
	cliCfg    func(*ens.Config)
}

func setup(t *testing.T, o setupOpts) *testBundle {
	t.Helper()
	b := &testBundle{}
	cfg := enssim.Config{AccessKeyID: testAK, AccessKeySecret: testSecret, ProvisionTime: 4 * time.Second}
	if o.fakeClock {
		b.clock = testkit.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
		cfg.Now = b.clock.Now
	}
	if o.simCfg != nil {
		o.simCfg(&cfg)
	}
	sim, err := enssim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b.sim = sim
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.queries = append(b.queries, r.URL.RawQuery)
		b.mu.Unlock()
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		sim.Close()
		b.srv.Close()
	})
	b.client = newClient(t, b.srv, o.cliCfg)
	return b
}

func newClient(t *testing.T, srv *httptest.Server, mod func(*ens.Config)) *ens.Client {
	t.Helper()
	cc := ens.Config{
		Endpoint:    strings.TrimPrefix(srv.URL, "http://"),
		Protocol:    "HTTP",
		Credentials: ens.Credentials{AccessKeyID: testAK, AccessKeySecret: testSecret},
		ReadTimeout: 5 * time.Second,
		BaseBackoff: 10 * time.Millisecond,
		MaxBackoff:  200 * time.Millisecond,
	}
	if mod != nil {
		mod(&cc)
	}
	c, err := ens.New(cc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func createRequest(name string) *ens.CreateClusterNodePoolRequest {
	return &ens.CreateClusterNodePoolRequest{
		ClusterId:    "eck-demo0001",
		NodepoolInfo: &ens.NodepoolInfo{Name: name},
		ScalingGroup: &ens.ScalingGroup{
			DesiredSize:        2,
			ImageId:            "m-demo",
			InstanceChargeType: "PostPaid",
			InstanceTypes:      []string{"ens.sn1.small"},
			Password:           "Ab1!&=+ x",
			SystemDiskCategory: "cloud_efficiency",
			SystemDiskSize:     40,
			DataDisks:          []ens.DataDisk{{Category: "cloud_ssd", Size: 20}},
			VswitchIds:         []string{"vsw-demo0001"},
		},
		KubernetesConfig: &ens.KubernetesConfig{UserData: "ZWNobyBvawo="},
	}
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestLifecycle drives every action through the client with both signature
// versions.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	for _, v1 := range []bool{false, true} {
		name := map[bool]string{false: "ACS3-HMAC-SHA256", true: "V1-HMAC-SHA1"}[v1]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, setupOpts{fakeClock: true, cliCfg: func(c *ens.Config) { c.SignatureV1 = v1; c.PageSize = 2 }})
			ctx := ctxTimeout(t, 20*time.Second)

			created, err := b.client.CreateClusterNodePool(ctx, createRequest("pool-a"))
			if err != nil {
				t.Fatal(err)
			}
			np := created.Nodepool
			if created.RequestId == "" || !strings.HasPrefix(np.NodepoolInfo.NodepoolId, "np") {
				t.Fatalf("create response = %+v", created)
			}
			if got, want := np.Status, (ens.NodePoolStatus{DesiredNodes: 2, InitialNodes: 2, TotalNodes: 2, State: "initial"}); got != want {
				t.Errorf("new pool status = %+v, want %+v", got, want)
			}
			if got, want := np.ScalingGroup.Password, "**********"; got != want {
				t.Errorf("password = %q, want masked %q", got, want)
			}
			for _, n := range []string{"pool-b", "pool-c"} {
				if _, err := b.client.CreateClusterNodePool(ctx, createRequest(n)); err != nil {
					t.Fatal(err)
				}
			}

			b.clock.Advance(2 * time.Second)
			pools, err := b.client.DescribeClusterNodePools(ctx, "eck-demo0001")
			if err != nil {
				t.Fatal(err)
			}
			if len(pools) != 3 {
				t.Fatalf("got %d pools over pages of 2, want 3", len(pools))
			}
			if got, want := pools[0].Status, (ens.NodePoolStatus{DesiredNodes: 2, InitialNodes: 1, ServingNodes: 1, TotalNodes: 2, State: "initial"}); got != want {
				t.Errorf("half-way status = %+v, want %+v", got, want)
			}
			b.clock.Advance(2 * time.Second)
			page, err := b.client.DescribeClusterNodePoolsPage(ctx, "eck-demo0001", 1, 1)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := page.Page, (ens.Page{PageNumber: 1, PageSize: 1, TotalCount: 3}); got != want {
				t.Errorf("page = %+v, want %+v", got, want)
			}
			if got := page.NodePools[0].Status; got.State != "active" || got.ServingNodes != 2 || got.InitialNodes != 0 {
				t.Errorf("provisioned status = %+v, want active with 2 serving", got)
			}

			detail, err := b.client.DescribeClusterDetail(ctx, "eck-demo0001")
			if err != nil {
				t.Fatal(err)
			}
			if detail.EnsRegionId != "cn-hangzhou-58" || detail.State != "running" || detail.RequestId == "" {
				t.Errorf("detail = %+v", detail)
			}
			clusters, err := b.client.DescribeClustersV1(ctx, ens.ClusterFilter{EnsRegionId: "cn-hangzhou-58"})
			if err != nil || len(clusters) != 1 || clusters[0].ClusterId != "eck-demo0001" {
				t.Errorf("DescribeClustersV1 = %+v, %v", clusters, err)
			}
			if clusters, _ := b.client.DescribeClustersV1(ctx, ens.ClusterFilter{Name: "nope"}); len(clusters) != 0 {
				t.Errorf("filtered DescribeClustersV1 = %+v, want none", clusters)
			}

			id := np.NodepoolInfo.NodepoolId
			if err := b.client.ScaleClusterNodePool(ctx, "eck-demo0001", id, 5); err != nil {
				t.Fatal(err)
			}
			pools, _ = b.client.DescribeClusterNodePools(ctx, "eck-demo0001")
			if got := pools[0].Status; got.State != "scaling" || got.DesiredNodes != 5 || got.ServingNodes != 2 {
				t.Errorf("after scale = %+v, want scaling 2/5", got)
			}
			if err := b.client.DeleteClusterNodePool(ctx, "eck-demo0001", id); err != nil {
				t.Fatal(err)
			}
			pools, _ = b.client.DescribeClusterNodePools(ctx, "eck-demo0001")
			if len(pools) != 2 {
				t.Errorf("after delete %d pools, want 2", len(pools))
			}
			err = b.client.DeleteClusterNodePool(ctx, "eck-demo0001", id)
			if !errors.Is(err, ens.ErrNotFound) {
				t.Errorf("second delete = %v, want ErrNotFound", err)
			}
		})
	}
}

// TestWireFormat checks the exact query the client sends: the generated
// SDK's shrink JSON (no HTML escaping, keys in struct order).
func TestWireFormat(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{fakeClock: true})
	ctx := ctxTimeout(t, 10*time.Second)
	created, err := b.client.CreateClusterNodePool(ctx, createRequest("p1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.client.ScaleClusterNodePool(ctx, "eck-demo0001", created.Nodepool.NodepoolInfo.NodepoolId, 5); err != nil {
		t.Fatal(err)
	}
	if _, err := b.client.DescribeClusterNodePoolsPage(ctx, "eck-demo0001", 1, 10); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	create, _ := url.ParseQuery(b.queries[0])
	want := map[string]string{
		"ClusterId":        "eck-demo0001",
		"NodepoolInfo":     `{"Name":"p1"}`,
		"ScalingGroup":     `{"DataDisks":[{"Category":"cloud_ssd","Size":20}],"DesiredSize":2,"ImageId":"m-demo","InstanceChargeType":"PostPaid","InstanceTypes":["ens.sn1.small"],"Password":"Ab1!&=+ x","SystemDiskCategory":"cloud_efficiency","SystemDiskSize":40,"VswitchIds":["vsw-demo0001"]}`,
		"KubernetesConfig": `{"UserData":"ZWNobyBvawo="}`,
	}
	if len(create) != len(want) {
		t.Errorf("create query keys = %v, want %d keys", create, len(want))
	}
	for k, v := range want {
		if got := create.Get(k); got != v {
			t.Errorf("create %s = %s\nwant %s", k, got, v)
		}
	}
	scale, _ := url.ParseQuery(b.queries[1])
	if got, want := scale.Get("Body"), `{"Count":5}`; got != want {
		t.Errorf("scale Body = %s, want %s", got, want)
	}
	if got, want := b.queries[2], "ClusterId=eck-demo0001&PageNumber=1&PageSize=10"; got != want {
		t.Errorf("describe query = %s, want %s", got, want)
	}
}

// TestErrorMapping checks permanent errors: one call each, the API's Code,
// Message, RequestId and status, and the sentinel.
func TestErrorMapping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		creds      ens.Credentials
		mutate     func(r *ens.CreateClusterNodePoolRequest)
		wantCode   string
		wantStatus int
		wantIs     error
	}{
		{name: "disk size", mutate: func(r *ens.CreateClusterNodePoolRequest) { r.ScalingGroup.SystemDiskSize = 25 },
			wantCode: "InvalidParameter.SystemDiskSize", wantStatus: 400, wantIs: ens.ErrInvalid},
		{name: "unknown cluster", mutate: func(r *ens.CreateClusterNodePoolRequest) { r.ClusterId = "eck-nope" },
			wantCode: "InvalidClusterId.NotFound", wantStatus: 404, wantIs: ens.ErrNotFound},
		{name: "missing name", mutate: func(r *ens.CreateClusterNodePoolRequest) { r.NodepoolInfo.Name = "" },
			wantCode: "MissingParameter", wantStatus: 400, wantIs: ens.ErrInvalid},
		{name: "bad signature", creds: ens.Credentials{AccessKeyID: testAK, AccessKeySecret: "wrong"},
			wantCode: "SignatureDoesNotMatch", wantStatus: 403, wantIs: ens.ErrUnauthorized},
		{name: "unknown access key", creds: ens.Credentials{AccessKeyID: "LTAI5tOther", AccessKeySecret: testSecret},
			wantCode: "InvalidAccessKeyId.NotFound", wantStatus: 400, wantIs: ens.ErrUnauthorized},
	}
	for _, tt := range tests {
		for _, v1 := range []bool{false, true} {
			t.Run(tt.name+map[bool]string{false: "/v3", true: "/v1"}[v1], func(t *testing.T) {
				t.Parallel()
				b := setup(t, setupOpts{fakeClock: true, cliCfg: func(c *ens.Config) {
					c.SignatureV1 = v1
					if tt.creds.AccessKeyID != "" {
						c.Credentials = tt.creds
					}
				}})
				req := createRequest("p1")
				if tt.mutate != nil {
					tt.mutate(req)
				}
				_, err := b.client.CreateClusterNodePool(ctxTimeout(t, 10*time.Second), req)
				ae, ok := ens.AsAPIError(err)
				if !ok {
					t.Fatalf("err = %v, want *APIError", err)
				}
				if ae.Code != tt.wantCode || ae.HTTPStatus != tt.wantStatus || ae.RequestID == "" || ae.Message == "" ||
					ae.Action != "CreateClusterNodePool" {
					t.Errorf("APIError = %+v, want %s/%d with RequestID and Message", ae, tt.wantCode, tt.wantStatus)
				}
				if !errors.Is(err, tt.wantIs) || ens.IsRetryable(err) {
					t.Errorf("errors.Is(%v, %v) = false or retryable", err, tt.wantIs)
				}
				if got := b.client.Stats().Calls; got != 1 {
					t.Errorf("client calls = %d, want 1 (permanent errors are not retried)", got)
				}
			})
		}
	}
}

// TestConcurrentCreatesStayWithinLimit: 50 concurrent creates against the
// 10/s limit complete with no throttling and no 1-second window above 10.
func TestConcurrentCreatesStayWithinLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := ctxTimeout(t, 30*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Go(func() {
			if _, err := b.client.CreateClusterNodePool(ctx, createRequest("c"+string(rune('a'+i%26))+string(rune('a'+i/26)))); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := b.sim.Stats()
	if got := st.Calls["CreateClusterNodePool"]; got != 50 {
		t.Errorf("server saw %d creates, want 50", got)
	}
	if st.Throttled != 0 || b.client.Stats().Throttled != 0 {
		t.Errorf("throttled: server %d, client %d; want 0", st.Throttled, b.client.Stats().Throttled)
	}
	if got := st.MaxPerSecond["CreateClusterNodePool"]; got > 10 {
		t.Errorf("max creates in a 1-second window = %d, want ≤ 10", got)
	}
}

// TestRetries checks which injected faults are absorbed and which are not.
// A create is retried only when the failure proves it had no effect
// (throttling): after a 5xx it may have created the pool, so the error is
// returned as ErrOutcomeUnknown for the caller to look first. Idempotent
// calls (describe) absorb 5xx.
func TestRetries(t *testing.T) {
	t.Parallel()
	const create, describe = "CreateClusterNodePool", "DescribeClusterNodePools"
	tests := []struct {
		name        string
		action      string
		fault       enssim.Fault
		maxAttempts int     // 0: the default (10)
		wantErrs    []error // nil: the call succeeds
		wantCalls   int64
		wantRetries int64
	}{
		{name: "Throttling.User burst absorbed", action: create,
			fault:     enssim.Fault{Action: create, Count: 5, Code: "Throttling.User", TimeLeft: enssim.Duration{Duration: 20 * time.Millisecond}},
			wantCalls: 6, wantRetries: 5},
		{name: "Throttling.Api absorbed", action: create, fault: enssim.Fault{Action: "*", Count: 2, Code: "Throttling.Api"},
			wantCalls: 3, wantRetries: 2},
		{name: "ServiceUnavailable absorbed by describe", action: describe, fault: enssim.Fault{Action: describe, Count: 2, Code: "ServiceUnavailable", Status: 503},
			wantCalls: 3, wantRetries: 2},
		{name: "InternalError absorbed by describe", action: describe, fault: enssim.Fault{Action: describe, Count: 1, Code: "InternalError", Status: 500},
			wantCalls: 2, wantRetries: 1},
		{name: "ServiceUnavailable on create not retried", action: create, fault: enssim.Fault{Action: create, Count: 2, Code: "ServiceUnavailable", Status: 503},
			wantErrs: []error{ens.ErrOutcomeUnknown, ens.ErrUnavailable}, wantCalls: 1},
		{name: "InternalError on create not retried", action: create, fault: enssim.Fault{Action: create, Count: 1, Code: "InternalError", Status: 500},
			wantErrs: []error{ens.ErrOutcomeUnknown, ens.ErrUnavailable}, wantCalls: 1},
		{name: "InvalidParameter not retried", action: create, fault: enssim.Fault{Action: create, Count: 3, Code: "InvalidParameter", Status: 400},
			wantErrs: []error{ens.ErrInvalid}, wantCalls: 1},
		{name: "persistent 503 gives up", action: describe, fault: enssim.Fault{Action: describe, Count: 100, Code: "ServiceUnavailable", Status: 503},
			maxAttempts: 4, wantErrs: []error{ens.ErrUnavailable}, wantCalls: 4, wantRetries: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, setupOpts{cliCfg: func(c *ens.Config) { c.MaxAttempts = tt.maxAttempts }})
			if err := b.sim.InjectFault(tt.fault); err != nil {
				t.Fatal(err)
			}
			var err error
			if tt.action == create {
				_, err = b.client.CreateClusterNodePool(ctxTimeout(t, 10*time.Second), createRequest("p1"))
			} else {
				_, err = b.client.DescribeClusterNodePools(ctxTimeout(t, 10*time.Second), "eck-demo0001")
			}
			if tt.wantErrs == nil && err != nil {
				t.Fatalf("err = %v, want success", err)
			}
			for _, want := range tt.wantErrs {
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want it to match %v", err, want)
				}
			}
			if tt.wantErrs != nil && errors.Is(tt.wantErrs[0], ens.ErrOutcomeUnknown) && !ens.IsRetryable(err) {
				t.Errorf("err = %v: an unknown outcome should stay retryable for the caller", err)
			}
			st := b.client.Stats()
			if st.Calls != tt.wantCalls || st.Retries != tt.wantRetries {
				t.Errorf("calls, retries = %d, %d; want %d, %d", st.Calls, st.Retries, tt.wantCalls, tt.wantRetries)
			}
			if got := b.sim.Stats().Calls[tt.action]; got != tt.wantCalls {
				t.Errorf("server saw %d calls, want %d", got, tt.wantCalls)
			}
		})
	}
}

// TestThrottleHonoursTimeLeft: the retry waits at least the announced
// TimeLeft.
func TestThrottleHonoursTimeLeft(t *testing.T) {
	t.Parallel()
	var slept []time.Duration
	var mu sync.Mutex
	b := setup(t, setupOpts{cliCfg: func(c *ens.Config) {
		c.Clock.Sleep = func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			slept = append(slept, d)
			mu.Unlock()
			return nil
		}
	}})
	b.sim.InjectFault(enssim.Fault{Action: "DescribeClusterDetail", Count: 1, Code: "Throttling.User", TimeLeft: enssim.Duration{Duration: 150 * time.Millisecond}})
	if _, err := b.client.DescribeClusterDetail(ctxTimeout(t, 5*time.Second), "eck-demo0001"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(slept) != 1 || slept[0] < 150*time.Millisecond {
		t.Errorf("slept %v, want one sleep ≥ 150ms", slept)
	}
}

// TestHungServerTimesOut: a server that never answers costs at most the
// context deadline (each attempt bounded by ReadTimeout and retried), or
// MaxAttempts read timeouts without a deadline.
func TestHungServerTimesOut(t *testing.T) {
	t.Parallel()
	t.Run("deadline", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{cliCfg: func(c *ens.Config) { c.ReadTimeout = 100 * time.Millisecond }})
		b.sim.InjectFault(enssim.Fault{Action: "*", Count: 1000, Delay: enssim.Duration{Duration: time.Minute}})
		start := time.Now()
		_, err := b.client.DescribeClusterDetail(ctxTimeout(t, time.Second), "eck-demo0001")
		el := time.Since(start)
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ens.ErrUnavailable) {
			t.Errorf("err = %v, want a deadline or ErrUnavailable", err)
		}
		if el > 5*time.Second { // generous for -race on 2 cores; the server hangs for a minute
			t.Errorf("took %v, want about the 1s deadline", el)
		}
		if got := b.client.Stats().Calls; got < 2 {
			t.Errorf("calls = %d, want several 100ms attempts within the 1s deadline", got)
		}
	})
	t.Run("attempts", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{cliCfg: func(c *ens.Config) { c.ReadTimeout = 100 * time.Millisecond; c.MaxAttempts = 2 }})
		b.sim.InjectFault(enssim.Fault{Action: "*", Count: 1000, Delay: enssim.Duration{Duration: time.Minute}})
		start := time.Now()
		_, err := b.client.DescribeClusterDetail(t.Context(), "eck-demo0001")
		if !errors.Is(err, ens.ErrUnavailable) || !ens.IsRetryable(err) {
			t.Errorf("err = %v, want a retryable ErrUnavailable", err)
		}
		if el := time.Since(start); el > 10*time.Second { // about 2×100ms; the server hangs for a minute
			t.Errorf("took %v, want about 2×100ms", el)
		}
	})
}

// TestContextCanceled: a canceled context is returned as is and not retried.
func TestContextCanceled(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	b.sim.InjectFault(enssim.Fault{Action: "*", Count: 10, Delay: enssim.Duration{Duration: time.Minute}})
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := b.client.DescribeClusterDetail(ctx, "eck-demo0001")
	if !errors.Is(err, context.Canceled) || ens.IsRetryable(err) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

// TestNonJSONErrorIsRetried: an HTML 502 from a proxy is a transport error.
func TestNonJSONErrorIsRetried(t *testing.T) {
	t.Parallel()
	var n int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		mu.Unlock()
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		w.Write([]byte("<html>bad gateway</html>"))
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv, func(c *ens.Config) { c.MaxAttempts = 3 })
	_, err := c.DescribeClusterDetail(ctxTimeout(t, 5*time.Second), "eck-demo0001")
	if !errors.Is(err, ens.ErrUnavailable) {
		t.Errorf("err = %v, want ErrUnavailable", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if n != 3 {
		t.Errorf("server hit %d times, want 3", n)
	}
}

// TestWithCredentials: STS credentials per invocation share limiter and stats.
func TestWithCredentials(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	sts, err := b.client.WithCredentials(ens.Credentials{AccessKeyID: testAK, AccessKeySecret: testSecret, SecurityToken: "CAIS-token"})
	if err != nil {
		t.Fatal(err)
	}
	for _, v1 := range []bool{false, true} {
		c := sts
		if v1 {
			c = newClient(t, b.srv, func(c *ens.Config) {
				c.SignatureV1 = true
				c.Credentials.SecurityToken = "CAIS-token"
			})
		}
		if _, err := c.DescribeClusterDetail(ctxTimeout(t, 5*time.Second), "eck-demo0001"); err != nil {
			t.Fatalf("v1=%v: %v", v1, err)
		}
	}
	if got := b.client.Stats().Calls; got != 1 {
		t.Errorf("parent client calls = %d, want 1 (shared with the derived client)", got)
	}
	if _, err := b.client.WithCredentials(ens.Credentials{}); !errors.Is(err, ens.ErrConfig) {
		t.Errorf("WithCredentials with empty keys: err = %v, want ErrConfig", err)
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	good := ens.Config{Credentials: ens.Credentials{AccessKeyID: "a", AccessKeySecret: "b"}}
	tests := []struct {
		name string
		mod  func(*ens.Config)
	}{
		{"no credentials", func(c *ens.Config) { c.Credentials = ens.Credentials{} }},
		{"scheme in endpoint", func(c *ens.Config) { c.Endpoint = "http://x" }},
		{"bad protocol", func(c *ens.Config) { c.Protocol = "FTP" }},
		{"page size", func(c *ens.Config) { c.PageSize = 51 }},
		{"attempts", func(c *ens.Config) { c.MaxAttempts = -1 }},
	}
	if _, err := ens.New(good); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, tt := range tests {
		cfg := good
		tt.mod(&cfg)
		if _, err := ens.New(cfg); !errors.Is(err, ens.ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", tt.name, err)
		}
	}
}

func newServer(h http.Handler) *httptest.Server { return httptest.NewServer(h) }

// TestTransportErrorHidesParameters: an RPC call carries its parameters in
// the URL query, and net/http's errors quote the URL; a create that times
// out must not put the pool's password into the error (and from there into
// logs, dead letters and callbacks).
func TestTransportErrorHidesParameters(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{cliCfg: func(c *ens.Config) { c.ReadTimeout = 100 * time.Millisecond; c.MaxAttempts = 2 }})
	b.sim.InjectFault(enssim.Fault{Action: "*", Count: 1000, Delay: enssim.Duration{Duration: time.Minute}})
	req := createRequest("hidden")
	req.ScalingGroup.Password = "Mk7pw-Hidden-Q"
	_, err := b.client.CreateClusterNodePool(ctxTimeout(t, 2*time.Second), req)
	if err == nil {
		t.Fatal("create against a hung server succeeded")
	}
	if msg := err.Error(); strings.Contains(msg, "Hidden") || strings.Contains(msg, "ScalingGroup") {
		t.Errorf("error quotes the request parameters: %s", msg)
	}
	if !strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("error lost the host it called: %v", err)
	}
}
