package apicheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/ensnodepool/webhook/pkg/ens"
	"github.com/ensnodepool/webhook/pkg/intake"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// Test secrets (used nowhere else).
const (
	secret      = "whsec_64ji43nvTGKB3cJBIcIqs2G0iRZYtNto"
	otherSecret = "whsec_dNnkSUCNcY6s/iesXyrx/oxYfdWRiiaG"
	sealKeys    = "k1:G5Nu+3VKzAFTrO5kXjpLY+JZG12yUQ0BNdXMvymL9MM="
)

// memQueue is an in-memory requests queue that can be made to fail.
type memQueue struct {
	mu     sync.Mutex
	bodies []string
	fail   bool
}

func (q *memQueue) Send(_ context.Context, body string) (string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fail {
		return "", errors.New("mns: connection refused")
	}
	q.bodies = append(q.bodies, body)
	return "msg-" + strconv.Itoa(len(q.bodies)), nil
}

func (q *memQueue) setFail(b bool) { q.mu.Lock(); q.fail = b; q.mu.Unlock() }

// pools is a PoolReader over a fixed list of pools of cluster eck-demo0001.
type pools []ens.NodePool

func (p pools) DescribeClusterNodePools(_ context.Context, clusterID string) ([]ens.NodePool, error) {
	if clusterID != "eck-demo0001" {
		return nil, ens.ErrNotFound
	}
	return p, nil
}

// demoPool is a pool as ENS describes it (password masked by ENS).
var demoPool = ens.NodePool{
	ClusterId:    "eck-demo0001",
	NodepoolInfo: ens.NodepoolInfo{Name: "demo-pool", NodepoolId: "np-0001", EnsRegionId: "cn-hangzhou-58"},
	ScalingGroup: ens.ScalingGroup{
		ImageId: "m-demo0001", InstanceTypes: []string{"ens.sn1.small"}, VswitchIds: []string{"vsw-demo0001"},
		Password: "******", SystemDiskCategory: "cloud_efficiency", SystemDiskSize: 40,
		DataDisks: []ens.DataDisk{{Category: "cloud_ssd", Size: 100}},
	},
	KubernetesConfig: &ens.KubernetesConfig{UserData: "ZWNobyBvawo="},
	Status:           ens.NodePoolStatus{DesiredNodes: 2, ServingNodes: 2, TotalNodes: 2, State: "active"},
}

// intakeHandler is the real webhook handler, in process, with an
// in-memory queue and the demo pool; mod adjusts its configuration.
func intakeHandler(tb testing.TB, q *memQueue, mod ...func(*intake.Config)) *intake.Handler {
	tb.Helper()
	keys, err := nodepool.ParseKeys(sealKeys)
	if err != nil {
		tb.Fatal(err)
	}
	sealer, err := nodepool.NewSealer(keys)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := intake.Config{
		Secrets: []string{secret}, Sealer: sealer, Queue: q, Pools: pools{demoPool},
		StatusURLBase: "https://hooks.example.com",
	}
	for _, m := range mod {
		m(&cfg)
	}
	h, err := intake.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// signed returns a request signed as the document describes: over the
// body of a POST, over the path as sent of a GET.
func signed(tb testing.TB, method, target string, body []byte, with string) *http.Request {
	tb.Helper()
	r := httptest.NewRequest(method, target, bytes.NewReader(body))
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	content := body
	if method == http.MethodGet {
		content = []byte(r.URL.EscapedPath())
	}
	sign(tb, r.Header, with, "msg_"+strconv.Itoa(len(target)), content)
	return r
}

func sign(tb testing.TB, h http.Header, with, id string, content []byte) {
	tb.Helper()
	wh, err := standardwebhooks.NewWebhook(with)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	sig, err := wh.Sign(id, now, content)
	if err != nil {
		tb.Fatal(err)
	}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	h.Set("webhook-signature", sig)
}

func unsigned(method, target string, body []byte) *http.Request {
	r := httptest.NewRequest(method, target, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return r
}

// ensDoc is the body built from the ENS document's example values.
func ensDoc(tb testing.TB) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "nodepool", "testdata", "ens-doc-values-keypair.json"))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// serve runs r through h and returns the status.
func serve(h http.Handler, r *http.Request) int {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code
}

// wantFailures checks that c recorded exactly n failures, and returns them.
func wantFailures(tb testing.TB, c *Checker, n int) []Failure {
	tb.Helper()
	fs := c.Failures()
	if len(fs) != n {
		tb.Errorf("%d failures, want %d:", len(fs), n)
		for _, f := range fs {
			tb.Log(f)
		}
	}
	return fs
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}
