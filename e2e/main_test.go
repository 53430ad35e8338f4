package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ensnodepool/webhook/pkg/dev/localstack"
	"github.com/ensnodepool/webhook/pkg/dev/mnssim"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
)

// binDir holds the function binaries built once for the whole package run.
var binDir string

// TestMain builds the function binaries once, runs the tests and, if they
// passed, fails the run when a goroutine is left running (a stack, a
// receiver or a client not closed).
func TestMain(m *testing.M) {
	start := time.Now()
	dir, err := testkit.BuildBinaries(context.Background(), moduleDir())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "e2e: built the functions in %v\n", time.Since(start).Round(time.Millisecond))
	binDir = dir
	testkit.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		os.RemoveAll(dir)
		os.Exit(code)
	}))
}

// moduleDir is the repository root (tests run in e2e/).
func moduleDir() string {
	d, _ := filepath.Abs("..")
	return d
}

// testConfig is a stack on free ports with short provisioning and polling,
// running the binaries TestMain built.
func testConfig(dir string, sec testkit.Secrets, out *testkit.SyncBuffer) localstack.Config {
	return testkit.Config(dir, binDir, sec, out)
}

// newE2E is the set-up every end-to-end test shares: a log buffer dumped
// if the test fails, fresh secrets, and the test stack's configuration on
// a temporary directory.
func newE2E(t *testing.T) (*testkit.SyncBuffer, testkit.Secrets, localstack.Config) {
	t.Helper()
	out := &testkit.SyncBuffer{}
	testkit.DumpOnFailure(t, out)
	sec := testkit.NewSecrets(t)
	return out, sec, testConfig(t.TempDir(), sec, out)
}

// heavy skips a long case in -short runs.
func heavy(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("heavy end-to-end case; runs without -short")
	}
}

// template reads events/create-nodepool.json.
func template(t *testing.T) []byte { return testkit.Template(t, moduleDir()) }

// inspector is a client of the stack's MNS inspection API.
func inspector(st *localstack.Stack) mnssim.Inspector {
	return mnssim.Inspector{BaseURL: strings.TrimSuffix(st.InspectURL(), mnssim.AdminPrefix+"queues")}
}

// newReceiver is a callback receiver verifying with sec.Callback, every
// callback validated against the API document, closed when the test ends.
func newReceiver(t *testing.T, sec testkit.Secrets) *localstack.Receiver {
	t.Helper()
	return testkit.NewReceiver(t, localstack.ReceiverConfig{Secrets: []string{sec.Callback}})
}

// demo runs localstack.Demo against st, its callbacks validated against
// the API document by the stack's Checker.
func demo(ctx context.Context, st *localstack.Stack, cfg localstack.DemoConfig) (localstack.DemoResult, error) {
	cfg.URL, cfg.Check = st.URL(), st.Config().Check
	return localstack.Demo(ctx, cfg)
}

// submit sends the sample request for pool name with its callback to url
// and returns the RequestId.
func submit(t *testing.T, st *localstack.Stack, sec testkit.Secrets, name, url string) string {
	t.Helper()
	body, err := localstack.Request(template(t), name, url)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	status, resp, err := localstack.PostCreate(ctx, nil, st.URL(), sec.Webhook, "", body)
	if err != nil || status != http.StatusAccepted {
		t.Fatalf("submit: %d %s %v", status, resp, err)
	}
	var a localstack.Accepted
	if err := json.Unmarshal(resp, &a); err != nil {
		t.Fatal(err)
	}
	return a.RequestId
}
