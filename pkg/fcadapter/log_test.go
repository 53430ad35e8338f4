package fcadapter

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/ensnodepool/webhook/pkg/logattr"
)

func TestLogHandler(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := NewLogger(&buf, LogConfig{Level: slog.LevelInfo, FunctionName: "worker"})
	ctx := NewContext(context.Background(), Invocation{RequestID: "fc-9", FunctionName: "worker"})
	log.With("a", 1).WithGroup("g").InfoContext(ctx, "hello", "b", 2)
	log.DebugContext(ctx, "hidden")
	log.Info("cold start")

	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), buf.Bytes())
	}
	var first map[string]any
	if err := json.Unmarshal(lines[0], &first); err != nil {
		t.Fatal(err)
	}
	if first[logattr.KeyFCRequestID] != "fc-9" || first[logattr.KeyFunction] != "worker" || first["a"] != 1.0 {
		t.Errorf("top-level attrs missing: %s", lines[0])
	}
	if g, _ := first["g"].(map[string]any); g["b"] != 2.0 {
		t.Errorf("group attrs missing: %s", lines[0])
	}
	var second map[string]any
	_ = json.Unmarshal(lines[1], &second)
	if _, ok := second[logattr.KeyFCRequestID]; ok || second[logattr.KeyFunction] != "worker" {
		t.Errorf("cold start line: %s", lines[1])
	}
}

func TestParseLevel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want slog.Level
		ok   bool
	}{
		{"", slog.LevelInfo, true}, {"debug", slog.LevelDebug, true}, {"WARN", slog.LevelWarn, true},
		{"warning", slog.LevelWarn, true}, {"error", slog.LevelError, true}, {"loud", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseLevel(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("%q: got %v, %v", tt.in, got, err)
		}
	}
}
