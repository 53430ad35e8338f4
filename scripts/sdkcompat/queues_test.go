package sdkcompat_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/dev/mnssim"
	"github.com/ensnodepool/webhook/pkg/queues"
)

// TestQueuesScript runs the scripts/queues command (built here) against
// the local MNS service and reads the queues back with the official MNS
// Node.js SDK (testdata/node/queues.mjs): create → the SDK sees exactly the
// spec's attributes → check is clean → the SDK changes an attribute → check
// exits 1 naming the queue and attribute → delete -yes → the SDK finds no
// queue.
func TestQueuesScript(t *testing.T) {
	node := requireNode(t)
	sim, err := mnssim.New(mnssim.Config{AccessKeyID: mnsKeyID, AccessKeySecret: mnsSecret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	bin := filepath.Join(t.TempDir(), "queues")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "../queues").CombinedOutput(); err != nil {
		t.Fatalf("go build ./scripts/queues: %v\n%s", err, out)
	}
	envv := append(cleanEnv(), "MNS_ENDPOINT="+srv.URL,
		"ALIBABA_CLOUD_ACCESS_KEY_ID="+mnsKeyID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET="+mnsSecret,
		"MNS_ACCESS_KEY_ID="+mnsKeyID, "MNS_ACCESS_KEY_SECRET="+mnsSecret,
		"NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")
	script := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(slices.Clone(envv), "QUEUE_REQUESTS=", "QUEUE_TRACKING=", "QUEUE_DEADLETTER=")
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			return string(out), ee.ExitCode()
		case err != nil:
			t.Fatalf("queues %v: %v", args, err)
		}
		return string(out), 0
	}
	specs := queues.Specs(queues.Names{}, queues.Timeouts{})
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	type nodeQueue struct {
		Queue      string           `json:"queue"`
		Exists     bool             `json:"exists"`
		Attributes map[string]int64 `json:"attributes"`
	}
	nodeGet := func() map[string]nodeQueue {
		t.Helper()
		cmd := exec.CommandContext(ctx, node, append([]string{"queues.mjs", "get"}, names...)...)
		cmd.Dir, cmd.Env = nodeDir, envv
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("node queues.mjs get: %v\n%s", err, stderr.String())
		}
		got := map[string]nodeQueue{}
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			var q nodeQueue
			if err := json.Unmarshal(sc.Bytes(), &q); err != nil {
				t.Fatalf("queues.mjs line %q: %v", sc.Text(), err)
			}
			got[q.Queue] = q
		}
		return got
	}

	if out, code := script("create"); code != 0 {
		t.Fatalf("create: exit %d\n%s", code, out)
	}
	got := nodeGet()
	for _, s := range specs {
		q := got[s.Name]
		want := map[string]int64{
			"DelaySeconds": int64(s.Attributes.Delay / time.Second), "MaximumMessageSize": int64(s.Attributes.MaxMessageSize),
			"MessageRetentionPeriod": int64(s.Attributes.Retention / time.Second),
			"VisibilityTimeout":      int64(s.Attributes.VisibilityTimeout / time.Second), "PollingWaitSeconds": int64(s.Attributes.PollingWait / time.Second),
		}
		if !q.Exists {
			t.Errorf("Node SDK: %s does not exist after create", s.Name)
			continue
		}
		for k, v := range want {
			if q.Attributes[k] != v {
				t.Errorf("Node SDK: %s %s = %d, want %d", s.Name, k, q.Attributes[k], v)
			}
		}
	}
	if out, code := script("check"); code != 0 || !strings.Contains(out, "ok: 4 queues") {
		t.Fatalf("check after create: exit %d\n%s", code, out)
	}

	set := exec.CommandContext(ctx, node, "queues.mjs", "set", specs[0].Name, "VisibilityTimeout=45")
	set.Dir, set.Env = nodeDir, envv
	if out, err := set.CombinedOutput(); err != nil {
		t.Fatalf("node queues.mjs set: %v\n%s", err, out)
	}
	out, code := script("check")
	if code != 1 || !strings.Contains(out, "drift "+specs[0].Name+": VisibilityTimeout is 45, want 150") {
		t.Fatalf("check after the Node SDK's change: exit %d, want 1 with the drift\n%s", code, out)
	}

	if out, code := script("-yes", "delete"); code != 0 {
		t.Fatalf("delete -yes: exit %d\n%s", code, out)
	}
	for _, n := range names {
		if nodeGet()[n].Exists {
			t.Errorf("Node SDK: %s still exists after delete", n)
		}
	}
}
