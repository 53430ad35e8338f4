package sdkcompat_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/dev/testkit"
)

// portalChecks must each appear in portal.ts's output (and pass).
var portalChecks = []string{
	"portal.dryRun.create", "portal.create", "portal.create.invalid", "portal.callback.creating",
	"portal.callback.active", "portal.callback.forgedRefused", "portal.status", "portal.dryRun.adopt",
	"portal.dryRun.conflict",
}

// TestPortalTypeScriptRoundTrip is the round trip a portal team writes
// from the published contract: types generated from api/openapi.yaml with
// openapi-typescript (pinned in testdata/node/package.json), compiled with
// tsc in strict mode together with a small client (testdata/node/portal/
// portal.ts) that signs its requests and verifies its callbacks with the
// standardwebhooks library, run with node against a local stack (the three
// function binaries, the simulators): a dry run, a create, its creating and
// active callbacks, a forged callback refused, the status read, and the dry
// run again (adopt, conflict). The stack's Checker validates every request
// the client sends against the same document.
func TestPortalTypeScriptRoundTrip(t *testing.T) {
	node := requireNode(t, "openapi-typescript", "typescript", "standardwebhooks", "@types/node")
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()

	moduleDir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	// Generate the types and compile the client first: a document the
	// client no longer compiles against fails before any stack starts.
	portal := filepath.Join(nodeDir, "portal")
	if err := os.RemoveAll(filepath.Join(portal, "build")); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, node, args...)
		cmd.Dir, cmd.Env = nodeDir, cleanEnv()
		start := time.Now()
		out, err := cmd.CombinedOutput()
		t.Logf("node %s: %v", args[0], time.Since(start).Round(time.Millisecond))
		if err != nil {
			t.Fatalf("node %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("node_modules/openapi-typescript/bin/cli.js", filepath.Join(moduleDir, "api", "openapi.yaml"), "-o", "portal/gen/api.d.ts")
	run("node_modules/typescript/bin/tsc", "-p", "portal")

	binDir, err := testkit.BuildBinaries(ctx, moduleDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(binDir) })
	out := &testkit.SyncBuffer{}
	testkit.DumpOnFailure(t, out)
	sec := testkit.NewSecrets(t)
	st := testkit.Start(t, testkit.Config(t.TempDir(), binDir, sec, out))

	cmd := exec.CommandContext(ctx, node, "portal/build/portal.js")
	cmd.Dir = nodeDir
	cmd.Env = append(cleanEnv(), "WEBHOOK_URL="+st.URL(), "WEBHOOK_SECRET="+sec.Webhook, "CALLBACK_SECRET="+sec.Callback,
		"POOL_NAME=portal-pool", "NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	runErr := cmd.Run()
	t.Logf("node portal.js: %v", time.Since(start).Round(time.Millisecond))

	seen := map[string]bool{}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var r result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.Check == "" {
			t.Errorf("unexpected output line from portal.js: %q", sc.Text())
			continue
		}
		seen[r.Check] = true
		if !r.OK {
			t.Errorf("%s failed after %d ms: %s", r.Check, r.MS, r.Detail)
		} else {
			t.Logf("%s: ok in %d ms: %s", r.Check, r.MS, r.Detail)
		}
	}
	for _, c := range portalChecks {
		if !seen[c] {
			t.Errorf("check %s did not run", c)
		}
	}
	if runErr != nil {
		t.Errorf("node portal.js: %v\nstderr:\n%s", runErr, stderr.String())
	}
	if s := st.ENS().Stats(); s.Pools != 1 || s.Calls["CreateClusterNodePool"] != 1 {
		t.Errorf("ENS: %d pools after %d creates, want the portal's one", s.Pools, s.Calls["CreateClusterNodePool"])
	}
	// dry run, create, invalid create, status, two dry runs.
	if n := st.Config().Check.Checked(); n < 6 {
		t.Errorf("the document checked %d of the client's exchanges, want 6", n)
	}
}
