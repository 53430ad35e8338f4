package fcadapter

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
)

// LogConfig configures NewLogHandler.
type LogConfig struct {
	// Level is the minimum level; nil means slog.LevelInfo. Use ParseLevel
	// on the LOG_LEVEL environment variable in main.
	Level slog.Leveler
	// FunctionName is logged as "function" when the context carries no
	// invocation (e.g. at cold start); optional.
	FunctionName string
	// AddSource adds the source file and line.
	AddSource bool
}

// The log vocabulary: every package of the three functions logs a request's
// identifiers under these keys, so that one query on LogKeyRequestID finds
// every line of a request in the webhook, the worker and the poller (see
// docs/operations.md, "Logs"). Durations are logged in milliseconds with LogDuration.
const (
	// LogKeyFCRequestID is the FC request id of the invocation; the handler
	// adds it to every record from the context.
	LogKeyFCRequestID = "fcRequestId"
	// LogKeyFunction is the function name; the handler adds it.
	LogKeyFunction = "function"
	// LogKeyRequestID is the request's RequestId, the same from the
	// webhook's 202 to the last callback.
	LogKeyRequestID = "RequestId"
	// LogKeyClusterID, LogKeyName and LogKeyNodepoolID name the pool.
	LogKeyClusterID  = "ClusterId"
	LogKeyName       = "Name"
	LogKeyNodepoolID = "NodepoolId"
	// LogKeyWebhookID is a callback event's webhook-id (Standard Webhooks).
	LogKeyWebhookID = "webhookId"
	// LogKeyMessageID is an MNS message id.
	LogKeyMessageID = "messageId"
	// LogKeyError is an error's text.
	LogKeyError = "error"
)

// LogDuration is the attribute "<name>Ms": d in milliseconds.
func LogDuration(name string, d time.Duration) slog.Attr {
	return slog.Float64(name+"Ms", float64(d.Microseconds())/1000)
}

// LogError is the attribute LogKeyError with err's text ("" for nil).
func LogError(err error) slog.Attr {
	if err == nil {
		return slog.String(LogKeyError, "")
	}
	return slog.String(LogKeyError, err.Error())
}

// NewLogHandler returns a JSON slog.Handler writing to w that adds the FC
// request id (LogKeyFCRequestID) and function name (LogKeyFunction) from the
// record's context at the top level of every record, whatever groups were
// opened with WithGroup (cf. aws-lambda-go lambdacontext/logger.go).
func NewLogHandler(w io.Writer, cfg LogConfig) slog.Handler {
	level := cfg.Level
	if level == nil {
		level = slog.LevelInfo
	}
	return &logHandler{
		base: slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, AddSource: cfg.AddSource}),
		fn:   cfg.FunctionName,
	}
}

// NewLogger is slog.New(NewLogHandler(w, cfg)).
func NewLogger(w io.Writer, cfg LogConfig) *slog.Logger { return slog.New(NewLogHandler(w, cfg)) }

// ParseLevel parses "debug", "info", "warn"/"warning", "error" (any case)
// or an slog level such as "INFO+2"; "" means info.
func ParseLevel(s string) (slog.Level, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return slog.LevelInfo, nil
	}
	if strings.EqualFold(s, "warning") {
		return slog.LevelWarn, nil
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("fcadapter: log level %q: %w", s, err)
	}
	return l, nil
}

// logHandler keeps the ungrouped base handler and replays WithAttrs /
// WithGroup after adding the per-invocation attributes, so those stay at the
// top level.
type logHandler struct {
	base slog.Handler
	fn   string
	ops  []logOp
}

type logOp struct {
	group string
	attrs []slog.Attr
}

func (h *logHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.base.Enabled(ctx, l)
}

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	inner := h.base
	var top []slog.Attr
	fn := h.fn
	if inv, ok := FromContext(ctx); ok {
		if inv.RequestID != "" {
			top = append(top, slog.String(LogKeyFCRequestID, inv.RequestID))
		}
		if inv.FunctionName != "" {
			fn = inv.FunctionName
		}
	}
	if fn != "" {
		top = append(top, slog.String(LogKeyFunction, fn))
	}
	if len(top) > 0 {
		inner = inner.WithAttrs(top)
	}
	for _, op := range h.ops {
		if op.group != "" {
			inner = inner.WithGroup(op.group)
		} else {
			inner = inner.WithAttrs(op.attrs)
		}
	}
	return inner.Handle(ctx, r)
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	return h.with(logOp{attrs: attrs})
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return h.with(logOp{group: name})
}

func (h *logHandler) with(op logOp) *logHandler {
	ops := make([]logOp, len(h.ops), len(h.ops)+1)
	copy(ops, h.ops)
	return &logHandler{base: h.base, fn: h.fn, ops: append(ops, op)}
}
