package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/events"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/dev/enssim"
	"github.com/ensnodepool/webhook/pkg/dev/mnssim"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
	"github.com/ensnodepool/webhook/pkg/fcadapter"
	"github.com/ensnodepool/webhook/pkg/fcapp"
	"github.com/ensnodepool/webhook/pkg/mns"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

const (
	testAK        = "test-ak"
	testSK        = "test-secret"
	testSealKeys  = "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
	testWHSecret  = "whsec_AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM="
	testPassword  = "Marker#Pa55word"
	requestsQueue = "requests"
)

// stack is the webhook app wired to in-process MNS and ENS services.
type stack struct {
	app      *app
	requests *mns.Queue
	ens      *enssim.Server
	logs     *strings.Builder
}

// newStack starts the services and the app; mod may change the function's
// environment and the ENS simulator's configuration first.
func newStack(t *testing.T, mod ...func(env map[string]string, ens *enssim.Config)) *stack {
	t.Helper()
	mnsSim := testkit.StartMNS(t, mnssim.Config{AccessKeyID: testAK, AccessKeySecret: testSK})
	ensCfg := enssim.Config{AccessKeyID: testAK, AccessKeySecret: testSK, ProvisionTime: time.Second, Clusters: enssim.DefaultClusters()}
	env := map[string]string{}
	for _, m := range mod {
		m(env, &ensCfg)
	}
	sim := testkit.StartENS(t, ensCfg)

	for k, v := range map[string]string{
		config.EnvMNSEndpoint:   mnsSim.URL(),
		config.EnvRequestsQueue: requestsQueue,
		config.EnvENSEndpoint:   sim.Endpoint(),
		config.EnvENSProtocol:   "HTTP",
		config.EnvWebhookSecret: testWHSecret,
		config.EnvSealKeys:      testSealKeys,
		config.EnvPublicURL:     "https://hooks.example.com",
	} {
		if _, set := env[k]; !set {
			env[k] = v
		}
	}
	s, err := config.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	logs := &strings.Builder{}
	a, err := newApp(s, testLogger(t, s, logs))
	if err != nil {
		t.Fatal(err)
	}
	requests := mnsSim.EnsureQueues(t, mns.QueueAttributes{}, requestsQueue)[0]
	return &stack{app: a, requests: requests, ens: sim.Server, logs: logs}
}

// sampleBody is events/create-nodepool.json with a password instead of a
// key pair, so the test can check it is sealed on the queue.
func sampleBody(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../../events/create-nodepool.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	sg := m["ScalingGroup"].(map[string]any)
	delete(sg, "KeyPairName")
	sg["Password"] = testPassword
	out, _ := json.Marshal(m)
	return out
}

// httpEvent builds the FC3 HTTP trigger event of a signed POST.
func httpEvent(t *testing.T, body []byte, sign bool) events.HTTPTriggerEvent {
	t.Helper()
	headers := map[string]string{"Content-Type": "application/json"}
	if sign {
		s, err := callback.NewSigner(testWHSecret)
		if err != nil {
			t.Fatal(err)
		}
		h, err := s.Headers("msg_test0001", time.Now(), body)
		if err != nil {
			t.Fatal(err)
		}
		for k := range h {
			headers[k] = h.Get(k)
		}
	}
	raw, _ := json.Marshal(map[string]any{
		"version": "v1", "rawPath": "/v1/nodepools", "body": string(body), "isBase64Encoded": false,
		"headers": headers, "queryParameters": map[string]string{},
		"requestContext": map[string]any{"accountId": "1234567890", "requestId": "1-fc-req-0001",
			"http": map[string]any{"method": "POST", "path": "/v1/nodepools", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9"}},
	})
	var ev events.HTTPTriggerEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestSignedPostThroughTheFCAdapterLandsSealedOnTheQueue(t *testing.T) {
	st := newStack(t)
	ctx := fcadapter.NewContext(context.Background(), fcadapter.Invocation{RequestID: "1-fc-req-0001",
		Credentials: fcadapter.Credentials{AccessKeyID: testAK, AccessKeySecret: testSK}})
	fn := fcadapter.HTTPHandler(st.app.handler, nil)

	resp, err := fn(ctx, httpEvent(t, sampleBody(t), true))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d, body %s", resp.StatusCode, resp.Body)
	}
	var ack struct{ RequestId, ClusterId, Name, State, StatusUrl string }
	if err := json.Unmarshal([]byte(resp.Body), &ack); err != nil {
		t.Fatal(err)
	}
	if ack.State != "accepted" || ack.ClusterId != "eck-demo0001" || ack.Name != "demo-pool" ||
		ack.StatusUrl != "https://hooks.example.com/v1/clusters/eck-demo0001/nodepools/demo-pool" {
		t.Errorf("ack = %+v", ack)
	}

	msgs, err := st.requests.Receive(context.Background(), 16, time.Second)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("receive: %d messages, %v", len(msgs), err)
	}
	if strings.Contains(msgs[0].Body, testPassword) {
		t.Fatal("the password is in clear on the queue")
	}
	env, err := nodepool.Parse([]byte(msgs[0].Body))
	if err != nil {
		t.Fatal(err)
	}
	if env.RequestId != ack.RequestId || env.SealedPassword == "" || env.Request.ScalingGroup.Password != "" {
		t.Errorf("envelope = %+v", env)
	}
	keys, _ := nodepool.ParseKeys(testSealKeys)
	sealer, _ := nodepool.NewSealer(keys)
	req, err := env.Open(sealer)
	if err != nil {
		t.Fatal(err)
	}
	if req.ScalingGroup.Password != testPassword {
		t.Error("the sealed password does not open to the original")
	}
	if strings.Contains(st.logs.String(), testPassword) || strings.Contains(st.logs.String(), testWHSecret) {
		t.Error("a secret reached the logs")
	}
	if !strings.Contains(st.logs.String(), "1-fc-req-0001") {
		t.Errorf("logs lack the FC request id: %s", st.logs.String())
	}
}

func TestUnsignedPostIsRejectedAndNothingQueued(t *testing.T) {
	st := newStack(t)
	ctx := fcadapter.NewContext(context.Background(), fcadapter.Invocation{RequestID: "1-fc-req-0002"})
	resp, err := fcadapter.HTTPHandler(st.app.handler, nil)(ctx, httpEvent(t, sampleBody(t), false))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", resp.StatusCode)
	}
	msgs, err := st.requests.Receive(context.Background(), 16, 0)
	if err != nil || len(msgs) != 0 {
		t.Fatalf("queue holds %d messages (%v), want none", len(msgs), err)
	}
}

// serve signs r over content (its id msgID) and serves it as an invocation
// with the test's credentials.
func (st *stack) serve(r *http.Request, msgID string, content []byte) *httptest.ResponseRecorder {
	s, _ := callback.NewSigner(testWHSecret)
	h, _ := s.Headers(msgID, time.Now(), content)
	for k := range h {
		r.Header.Set(k, h.Get(k))
	}
	r = r.WithContext(fcadapter.NewContext(r.Context(), fcadapter.Invocation{
		Credentials: fcadapter.Credentials{AccessKeyID: testAK, AccessKeySecret: testSK}}))
	w := httptest.NewRecorder()
	st.app.handler.ServeHTTP(w, r)
	return w
}

func TestStatusOfAnUnknownClusterIs404(t *testing.T) {
	st := newStack(t)
	r := httptest.NewRequest(http.MethodGet, "/v1/clusters/eck-nothere01/nodepools/p1", nil)
	w := st.serve(r, "msg_status01", []byte(r.URL.EscapedPath()))
	body, _ := io.ReadAll(w.Body)
	if w.Code != http.StatusNotFound {
		t.Fatalf("status %d, body %s", w.Code, body)
	}
}

func TestNewAppNamesMissingSettings(t *testing.T) {
	s, err := config.FromEnv(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	_, err = newApp(s, testLogger(t, s, io.Discard))
	for _, want := range []string{config.EnvMNSEndpoint, config.EnvWebhookSecret, config.EnvSealKeys} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to name %s", err, want)
		}
	}
}

// TestSampleHTTPEvent sends events/http.json — the FC3 HTTP trigger event
// of a create request — with its signature placeholders filled in.
func TestSampleHTTPEvent(t *testing.T) {
	st := newStack(t)
	raw, err := os.ReadFile("../../events/http.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.HTTPTriggerEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	h := *ev.Headers
	s, _ := callback.NewSigner(testWHSecret)
	signed, err := s.Headers(h["webhook-id"], time.Now(), []byte(*ev.Body))
	if err != nil {
		t.Fatal(err)
	}
	h["webhook-timestamp"], h["webhook-signature"] = signed.Get("webhook-timestamp"), signed.Get("webhook-signature")
	ctx := fcadapter.NewContext(context.Background(), fcadapter.Invocation{RequestID: *ev.TriggerContext.RequestId,
		Credentials: fcadapter.Credentials{AccessKeyID: testAK, AccessKeySecret: testSK}})
	resp, err := fcadapter.HTTPHandler(st.app.handler, nil)(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d, body %s", resp.StatusCode, resp.Body)
	}
	msgs, err := st.requests.Receive(context.Background(), 16, time.Second)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("receive: %d messages, %v", len(msgs), err)
	}
	env, err := nodepool.Parse([]byte(msgs[0].Body))
	if err != nil {
		t.Fatal(err)
	}
	if want := nodepool.RequestID(h["Idempotency-Key"], h["webhook-id"]); env.RequestId != want {
		t.Errorf("RequestId %s, want %s (from the Idempotency-Key)", env.RequestId, want)
	}
}

// testLogger is the function's logger writing to w, as fcapp.Main builds it.
func testLogger(t *testing.T, s config.Settings, w io.Writer) *slog.Logger {
	t.Helper()
	log, err := fcapp.Logger(s, w, function)
	if err != nil {
		t.Fatal(err)
	}
	return log
}

// TestDryRunsKeepTheDescribeRate: dry runs describe the cluster through
// the instance's ENS client and its ENS_DESCRIBE_RATE limit, the worker's
// setting. With ENS allowing 2 describes a second and the setting at 2,
// six concurrent dry runs all answer 200 and ENS throttles none; with the
// default setting (100/s) the same burst is throttled by ENS — the limit
// is what keeps it out. Nothing is queued or created either way.
func TestDryRunsKeepTheDescribeRate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		rate      string
		throttled bool
	}{{"2", false}, {"", true}} {
		st := newStack(t, func(env map[string]string, e *enssim.Config) {
			e.DescribeRate = 2
			if c.rate != "" {
				env[config.EnvENSDescribeRate] = c.rate
			}
		})
		body := sampleBody(t)
		codes := make(chan int, 6)
		var wg sync.WaitGroup
		for i := range 6 {
			wg.Go(func() {
				r := httptest.NewRequest(http.MethodPost, "/v1/nodepools?dryRun=true", bytes.NewReader(body))
				r.Header.Set("Content-Type", "application/json")
				codes <- st.serve(r, "msg_dry"+strconv.Itoa(i), body).Code
			})
		}
		wg.Wait()
		close(codes)
		for code := range codes {
			if code != http.StatusOK && !c.throttled {
				t.Errorf("ENS_DESCRIBE_RATE=%q: a dry run answered %d", c.rate, code)
			}
		}
		s := st.ens.Stats()
		if got := s.ThrottledByAction["DescribeClusterNodePools"] > 0; got != c.throttled {
			t.Errorf("ENS_DESCRIBE_RATE=%q: ENS throttled %d describes (max %d/s)", c.rate, s.ThrottledByAction["DescribeClusterNodePools"],
				s.MaxPerSecond["DescribeClusterNodePools"])
		}
		if msgs, err := st.requests.Receive(context.Background(), 16, 0); err == nil && len(msgs) > 0 || s.Pools != 0 {
			t.Errorf("ENS_DESCRIBE_RATE=%q: %d queued, %d pools", c.rate, len(msgs), s.Pools)
		}
	}
}
