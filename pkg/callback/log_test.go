package callback

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/ensnodepool/webhook/pkg/logattr"
)

// TestAttemptLogs: a delivered event is one INFO "callback: event sent"
// line and each failed attempt one WARN "callback: attempt failed" line,
// both with the request's identifiers under the shared keys and the
// duration in milliseconds.
func TestAttemptLogs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code       int
		level, msg string
	}{
		{204, "INFO", "callback: event sent"},
		{500, "WARN", "callback: attempt failed"},
		{410, "WARN", "callback: attempt failed"},
	} {
		var logs strings.Builder // Deliver logs before it returns, on this goroutine
		tb := setup(t, func(c *Config) { c.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) })
		rc := newReceiver(t, status(tc.code))
		ev := sampleEvent()
		tb.sender.Deliver(context.Background(), rc.URL, ev.MessageID(), ev)
		var rec map[string]any
		if err := json.Unmarshal([]byte(strings.TrimSpace(logs.String())), &rec); err != nil {
			t.Fatalf("%d: want one JSON line, got %q", tc.code, logs.String())
		}
		want := map[string]any{"level": tc.level, "msg": tc.msg, logattr.KeyRequestID: "req-0001",
			logattr.KeyClusterID: "eck-demo0001", logattr.KeyName: "pool-a", logattr.KeyNodepoolID: "np-0001",
			logattr.KeyWebhookID: ev.MessageID(), "type": TypeActive}
		for k, v := range want {
			if rec[k] != v {
				t.Errorf("%d: %s = %v, want %v", tc.code, k, rec[k], v)
			}
		}
		if _, ok := rec["durationMs"].(float64); !ok {
			t.Errorf("%d: no durationMs in %v", tc.code, rec)
		}
	}
}
