package main

import (
	"bytes"
	"flag"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
	"github.com/ensnodepool/webhook/pkg/queues"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestGolden keeps what the command prints in testdata/queues.golden (go
// test ./scripts/queues -run TestGolden -update rewrites it): create,
// check, a drift and its fix, a declined delete, with flags after the
// command as scripts/deadletter takes them; and the errors of command
// lines it cannot run, each printed before the usage, as main prints
// them.
func TestGolden(t *testing.T) {
	ep, c := startMNS(t)
	ctx := t.Context()
	keysOnly := func(k string) string { return env(ep)(k) }
	noEndpoint := func(k string) string {
		if k == config.EnvMNSEndpoint {
			return ""
		}
		return keysOnly(k)
	}
	var b strings.Builder
	step := func(getenv func(string) string, stdin string, args ...string) {
		t.Helper()
		var out bytes.Buffer
		err := run(ctx, args, getenv, strings.NewReader(stdin), &out)
		text := "$ queues " + strings.Join(args, " ") + "\n" + out.String()
		if err != nil {
			text += "queues: " + strings.TrimPrefix(err.Error(), "queues: ") + "\n"
		}
		b.WriteString(strings.ReplaceAll(text, ep, "<endpoint>") + "\n")
	}
	step(noEndpoint, "", "create", "-endpoint", ep)
	step(noEndpoint, "", "check", "-endpoint", ep)
	specs := queues.Specs(queues.Names{}, queues.Timeouts{})
	changed := specs[1].Attributes
	changed.VisibilityTimeout = 60 * time.Second
	if err := c.SetQueueAttributes(ctx, specs[1].Name, changed); err != nil {
		t.Fatal(err)
	}
	step(keysOnly, "", "check")
	step(keysOnly, "", "-endpoint", ep, "create")
	step(keysOnly, "no\n", "delete")
	step(keysOnly, "")
	step(keysOnly, "", "frobnicate")
	step(keysOnly, "", "check", "now")
	step(keysOnly, "", "check", "-nope")
	step(func(string) string { return "" }, "", "check")
	step(keysOnly, "", "-h")

	testkit.Golden(t, filepath.Join("testdata", "queues.golden"), []byte(b.String()), *update)
}
