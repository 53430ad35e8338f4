package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/dev/localstack"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
	"github.com/ensnodepool/webhook/pkg/ens"
	"github.com/ensnodepool/webhook/pkg/fcapp"
	"github.com/ensnodepool/webhook/pkg/intake"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// TestMeasure prints the numbers of docs/testing.md ("Measured in the packages"): binary
// sizes, cold starts (process start → first `next`) and webhook latency
// through the local runtime vs. the same handler called in-process.
// Run with LOCALSTACK_MEASURE=1 go test -run TestMeasure -v ./e2e.
func TestMeasure(t *testing.T) {
	if os.Getenv("LOCALSTACK_MEASURE") == "" {
		t.Skip("set LOCALSTACK_MEASURE=1")
	}
	for _, n := range []string{localstack.FuncWebhook, localstack.FuncWorker, localstack.FuncPoller} {
		st, err := os.Stat(filepath.Join(binDir, n))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("binary %-8s %.1f MB (host build, -trimpath, not stripped)", n, float64(st.Size())/(1<<20))
	}
	// Cold starts: several fresh stacks, first process of each instance.
	cold := map[string][]time.Duration{}
	for range 5 {
		st := testkit.Start(t, testConfig(t.TempDir(), testkit.NewSecrets(t), &testkit.SyncBuffer{}))
		for _, n := range []string{localstack.FuncWebhook, localstack.FuncWorker, localstack.FuncPoller} {
			for _, in := range st.Runtime().Instances(n) {
				cold[n] = append(cold[n], in.ColdStart)
			}
		}
		st.Close()
	}
	for _, n := range []string{localstack.FuncWebhook, localstack.FuncWorker, localstack.FuncPoller} {
		p50, _, mx := stats(cold[n])
		t.Logf("cold start %-8s n=%d p50 %v max %v", n, len(cold[n]), p50, mx)
	}

	sec := testkit.NewSecrets(t)
	cfg := testConfig(t.TempDir(), sec, &testkit.SyncBuffer{})
	cfg.LogLevel = "warn"
	cfg.PollInterval = time.Hour
	st := testkit.Start(t, cfg)
	defer st.Close()
	ctx := context.Background()
	rcv := newReceiver(t, sec)
	const n = 300
	body := func(i int) []byte {
		b, err := localstack.Request(template(t), fmt.Sprintf("m-%d", i), rcv.URL())
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	hc := &http.Client{}
	var viaRuntime []time.Duration
	for i := range n {
		b := body(i)
		start := time.Now()
		status, resp, err := localstack.PostCreate(ctx, hc, st.URL(), sec.Webhook, "", b)
		viaRuntime = append(viaRuntime, time.Since(start))
		if err != nil || status != http.StatusAccepted {
			t.Fatalf("POST: %d %s %v", status, resp, err)
		}
	}
	var health []time.Duration
	for range n {
		start := time.Now()
		resp, err := hc.Get(st.URL() + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		health = append(health, time.Since(start))
	}

	// The same handler in-process, with the same queue service.
	keys, _ := nodepool.ParseKeys(localstack.DevSealKeys)
	sealer, _ := nodepool.NewSealer(keys)
	e, err := ens.New(ens.Config{Endpoint: st.Addrs().ENS, Protocol: "HTTP", RegionID: "cn-hangzhou",
		Credentials: ens.Credentials{AccessKeyID: localstack.DevAccessKeyID, AccessKeySecret: localstack.DevAccessKeySecret}})
	if err != nil {
		t.Fatal(err)
	}
	q := st.Queue(st.Config().RequestsQueue)
	h, err := intake.New(intake.Config{Secrets: []string{sec.Webhook}, Sealer: sealer, Pools: e,
		Queue:     fcapp.RequestsSender(q),
		Validator: nodepool.NewValidator(nodepool.ValidationConfig{AllowHTTPCallback: true, CallbackAllow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})})
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := callback.NewSigner(sec.Webhook)
	var direct []time.Duration
	for i := range n {
		b := body(n + i)
		hdr, _ := signer.Headers(fmt.Sprintf("msg_d%d", i), time.Now(), b)
		req := httptest.NewRequest(http.MethodPost, "/v1/nodepools", bytes.NewReader(b))
		req.Header = hdr
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(w, req)
		direct = append(direct, time.Since(start))
		if w.Code != http.StatusAccepted {
			t.Fatalf("direct: %d %s", w.Code, w.Body)
		}
	}
	for _, m := range []struct {
		name string
		d    []time.Duration
	}{{"POST /v1/nodepools via HTTP trigger + runtime + instance", viaRuntime},
		{"POST /v1/nodepools direct intake.Handler.ServeHTTP (same MNS)", direct},
		{"GET /healthz via HTTP trigger + runtime + instance", health}} {
		p50, p99, mx := stats(m.d)
		t.Logf("%s: n=%d p50 %v p99 %v max %v", m.name, len(m.d), p50, p99, mx)
	}
}

func stats(d []time.Duration) (p50, p99, mx time.Duration) {
	if len(d) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	r := func(x time.Duration) time.Duration { return x.Round(10 * time.Microsecond) }
	return r(s[len(s)/2]), r(s[min(len(s)-1, len(s)*99/100)]), r(s[len(s)-1])
}
