// Package sdkcompat_test checks that the local MNS, ENS and Tablestore
// simulators (pkg/dev/mnssim, pkg/dev/enssim, pkg/dev/otssim) work with the
// official Alibaba Cloud Node.js SDKs, not only with the Go SDKs the project
// itself uses. It starts the simulators in-process and runs
// testdata/node/compat.mjs (see there and ots.mjs for the SDKs and the
// checks) against them. It also runs the round trip a portal team writes
// against a local stack (portal_test.go): a TypeScript client on types
// generated from api/openapi.yaml. The Node project lives under
// testdata/ so that the go tool never walks its node_modules.
//
// Setup: npm ci --prefix scripts/sdkcompat/testdata/node && go test ./scripts/sdkcompat/
//
// Without node or node_modules the test skips, unless CI is set: then it
// fails, so a missing install step cannot pass unnoticed.
package sdkcompat_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/dev/enssim"
	"github.com/ensnodepool/webhook/pkg/dev/mnssim"
	"github.com/ensnodepool/webhook/pkg/mns"
)

// Key pairs of the in-process simulators (test-only values).
const (
	mnsKeyID, mnsSecret = "LTAI5tCompatMNS", "compat-mns-secret"
	ensKeyID, ensSecret = "LTAI5tCompatENS", "compat-ens-secret"
)

// requiredChecks must each appear in compat.mjs's output (and pass), so a
// script that stops early or drops a check fails the test.
var requiredChecks = []string{
	"sdk.versions",
	"mns.createQueue", "mns.getQueueAttributes", "mns.setQueueAttributes", "mns.listQueue",
	"mns.receive.emptyQueue", "mns.receive.emptyLongPoll",
	"mns.send.unicodeDelay0", "mns.peek", "mns.receive", "mns.changeVisibility",
	"mns.delete.staleReceipt", "mns.delete.garbageReceipt", "mns.delete", "mns.receive.longPollWakes",
	"mns.batchSend", "mns.batchSend.partial", "mns.batchPeek", "mns.batchReceive",
	"mns.batchDelete.partial", "mns.batchDelete", "mns.batchReceive.emptyQueue",
	"mns.unknownQueue", "mns.delayedMessage", "mns.securityToken", "mns.badSecret",
	"mns.pathPrefixEndpoint", "mns.interop.fromGo", "mns.interop.toGo", "mns.deleteQueue",
	"ens.pop.CreateClusterNodePool", "ens.pop.DescribeClusterNodePools", "ens.pop.DescribeClusterNodePools.GET",
	"ens.pop.DescribeClusterDetail", "ens.pop.securityToken", "ens.pop.badSecret",
	"ens.pop.InvalidParameter", "ens.pop.MissingParameter", "ens.pop.throttled", "ens.pop.unknownCluster",
	"ens.v3.openapi-client.CreateClusterNodePool", "ens.v3.openapi-client.DescribeClusterNodePools",
	"ens.v3.openapi-client.DescribeClusterDetail", "ens.v3.openapi-client.badSecret",
	"ens.v3.openapi-client.InvalidParameter", "ens.v3.openapi-client.securityToken",
	"ens.v3.openapi-core.CreateClusterNodePool", "ens.v3.openapi-core.DescribeClusterNodePools",
	"ens.v3.openapi-core.DescribeClusterDetail", "ens.v3.openapi-core.badSecret",
	"ens.v3.openapi-core.InvalidParameter", "ens.v3.openapi-core.securityToken",
	"ens.pop.DeleteClusterNodePool",
}

func init() { requiredChecks = append(requiredChecks, otsRequiredChecks...) }

// The cross-language round trip's queues and body (multi-byte UTF-8 and XML
// metacharacters).
const (
	fromGo, toGo = "interop-from-go", "interop-to-go"
	interopBody  = `{"requestId":"r-1","name":"池-ü","note":"a<b & c>d 🚀"}`
)

// result is one line of compat.mjs output.
type result struct {
	Check  string `json:"check"`
	OK     bool   `json:"ok"`
	MS     int    `json:"ms"`
	Detail string `json:"detail"`
}

func TestOfficialNodeSDKs(t *testing.T) {
	node := requireNode(t, "@alicloud/mns", "@alicloud/pop-core", "@alicloud/openapi-client", "@alicloud/openapi-core", "tablestore")

	sim, err := mnssim.New(mnssim.Config{AccessKeyID: mnsKeyID, AccessKeySecret: mnsSecret})
	if err != nil {
		t.Fatalf("mnssim.New: %v", err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	mnsSrv := httptest.NewServer(sim)
	t.Cleanup(mnsSrv.Close)

	ens, err := enssim.New(enssim.Config{AccessKeyID: ensKeyID, AccessKeySecret: ensSecret, Clusters: enssim.DefaultClusters()})
	if err != nil {
		t.Fatalf("enssim.New: %v", err)
	}
	t.Cleanup(func() { _ = ens.Close() })
	ensSrv := httptest.NewServer(ens)
	t.Cleanup(ensSrv.Close)

	ots := startOTS(t)

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	// Cross-language round trip: Go (pkg/mns) → Node SDK → Go.
	qc, err := mns.New(mns.Config{Endpoint: mnsSrv.URL,
		Credentials: mns.Credentials{AccessKeyID: mnsKeyID, AccessKeySecret: mnsSecret}})
	if err != nil {
		t.Fatalf("mns.New: %v", err)
	}
	for _, name := range []string{fromGo, toGo} {
		if err := qc.EnsureQueue(ctx, name, mns.QueueAttributes{}); err != nil {
			t.Fatalf("EnsureQueue(%s): %v", name, err)
		}
	}
	if _, err := qc.Queue(fromGo).Send(ctx, interopBody, 0); err != nil {
		t.Fatalf("Send: %v", err)
	}

	cmd := exec.CommandContext(ctx, node, "compat.mjs")
	cmd.Dir = nodeDir
	cmd.Env = append(cleanEnv(),
		"MNS_ENDPOINT="+mnsSrv.URL, "MNS_ACCESS_KEY_ID="+mnsKeyID, "MNS_ACCESS_KEY_SECRET="+mnsSecret,
		"ENS_ENDPOINT="+ensSrv.URL, "ENS_ACCESS_KEY_ID="+ensKeyID, "ENS_ACCESS_KEY_SECRET="+ensSecret,
		"MNS_INTEROP_BODY="+interopBody, "MNS_INTEROP_FROM_GO="+fromGo, "MNS_INTEROP_TO_GO="+toGo,
		"NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost",
	)
	cmd.Env = append(cmd.Env, ots.env()...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	runErr := cmd.Run()
	t.Logf("node compat.mjs: %v", time.Since(start).Round(time.Millisecond))

	var results []result
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var r result
		if err := json.Unmarshal([]byte(line), &r); err != nil || r.Check == "" {
			t.Errorf("unexpected output line from compat.mjs: %q", line)
			continue
		}
		results = append(results, r)
	}

	seen := map[string]bool{}
	for _, r := range results {
		seen[r.Check] = true
		t.Run(r.Check, func(t *testing.T) {
			if !r.OK {
				t.Errorf("%s failed after %d ms: %s", r.Check, r.MS, r.Detail)
				return
			}
			t.Logf("ok in %d ms %s", r.MS, r.Detail)
		})
	}
	for _, name := range requiredChecks {
		if !seen[name] {
			t.Errorf("check %s did not run", name)
		}
	}
	if runErr != nil {
		t.Errorf("node compat.mjs: %v\nstderr:\n%s", runErr, stderr.String())
	}

	msgs, err := qc.Queue(toGo).Receive(ctx, 1, time.Second)
	switch {
	case err != nil:
		t.Errorf("Go receive of the Node SDK's message: %v", err)
	case len(msgs) != 1:
		t.Errorf("Go receive of the Node SDK's message: got %d messages, want 1", len(msgs))
	case msgs[0].Body != interopBody:
		t.Errorf("Go receive of the Node SDK's message: body %q, want %q", msgs[0].Body, interopBody)
	}

	ots.verify(t)

	// The creates really reached this simulator (and were authenticated).
	if got := ens.Stats().Calls["CreateClusterNodePool"]; got < 3 {
		t.Errorf("enssim saw %d CreateClusterNodePool calls, want at least 3 (pop-core + two V3 cores)", got)
	}
}

// requireNode returns the node binary, or skips (fails when CI is set) if node
// or one of the npm packages is missing.
func requireNode(t *testing.T, packages ...string) string {
	t.Helper()
	unavailable := func(msg string) {
		t.Helper()
		msg = "sdkcompat: " + msg + "; the official-SDK compatibility checks did not run"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + " (CI is set, so this is a failure)")
		}
		t.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		unavailable("node (Node.js >= 18) not found in PATH")
	}
	for _, pkg := range packages {
		if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", filepath.FromSlash(pkg), "package.json")); err != nil {
			unavailable(pkg + " is not installed: run npm ci --prefix scripts/sdkcompat/testdata/node")
		}
	}
	return node
}

// nodeDir holds the Node project: package.json, the lock file, compat.mjs.
const nodeDir = "testdata/node"

// cleanEnv is the test's environment without variables compat.mjs reads, so
// a developer's shell cannot redirect the checks elsewhere.
func cleanEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		for _, p := range []string{"MNS_", "ENS_", "OTS_", "COMPAT_", "NODE_OPTIONS=", "NO_PROXY=", "no_proxy="} {
			if strings.HasPrefix(kv, p) {
				return true
			}
		}
		return false
	})
}
