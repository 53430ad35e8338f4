package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/dev/localstack"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
	"github.com/ensnodepool/webhook/pkg/logattr"
)

// logLine is one JSON record of a function's output, with the function
// named by the local runtime's line prefix "[<function>#<n>] ".
type logLine struct {
	function string
	rec      map[string]any
}

var linePrefix = regexp.MustCompile(`^\[([a-z]+)#\d+\] (\{.*\})$`)

// parseLogs returns the JSON records of out.
func parseLogs(out string) []logLine {
	var lines []logLine
	for _, l := range strings.Split(out, "\n") {
		m := linePrefix.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		var rec map[string]any
		if json.Unmarshal([]byte(m[2]), &rec) == nil {
			lines = append(lines, logLine{function: m[1], rec: rec})
		}
	}
	return lines
}

// TestE2ELogsFollowOneRequestId: with the functions logging at INFO, one
// query on the RequestId key finds every step of a request in the real
// binaries' logs — accepted by the webhook, created by the worker, the
// creating event sent, the pool active and its event sent by the poller —
// each at INFO
// with the FC request id of its invocation; and no idle poller tick is
// logged at INFO.
func TestE2ELogsFollowOneRequestId(t *testing.T) {
	t.Parallel()
	out, sec, cfg := newE2E(t)
	cfg.LogLevel = "info"
	st := testkit.Start(t, cfg)
	defer st.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	var printed bytes.Buffer
	res, err := demo(ctx, st, localstack.DemoConfig{WebhookSecret: sec.Webhook,
		CallbackSecret: sec.Callback, Template: template(t), Out: &printed})
	if err != nil {
		t.Fatalf("Demo: %v\n%s", err, printed.String())
	}
	id := res.Accepted.RequestId

	// The steps, in the order they happen, each found by the RequestId alone.
	type step struct{ function, msg, typ string }
	want := []step{
		{localstack.FuncWebhook, "intake: accepted", ""},
		{localstack.FuncWorker, "worker: created", ""},
		{"", "callback: event sent", callback.TypeCreating},           // the worker's attempt, or the poller's retry
		{localstack.FuncPoller, "poller: " + callback.TypeActive, ""}, // the pool's state change
		{localstack.FuncPoller, "callback: event sent", callback.TypeActive},
	}
	found := make([]bool, len(want))
	testkit.WaitFor(t, 10*time.Second, "every step in the logs", func() bool {
		lines := parseLogs(out.String())
		for i, w := range want {
			for _, l := range lines {
				r := l.rec
				if r[logattr.KeyRequestID] != id || r["msg"] != w.msg || (w.function != "" && l.function != w.function) ||
					(w.typ != "" && r["type"] != w.typ) {
					continue
				}
				if r["level"] != "INFO" || r[logattr.KeyFCRequestID] == "" || r[logattr.KeyFCRequestID] == nil {
					t.Errorf("%s line %v: want level INFO and an %s", w.msg, r, logattr.KeyFCRequestID)
				}
				found[i] = true
			}
		}
		for _, f := range found {
			if !f {
				return false
			}
		}
		return true
	})
	for _, l := range parseLogs(out.String()) {
		if l.rec["msg"] == "poller: tick" && l.rec["received"] == 0.0 {
			t.Errorf("an idle tick is logged at %v: %v", l.rec["level"], l.rec)
		}
	}
}
