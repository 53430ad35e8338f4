// Package logattr is the log vocabulary of the three functions: the keys
// under which every package logs a request's identifiers, and the
// attributes for durations and errors. One query on KeyRequestID finds
// every line of a request in the webhook, the worker and the poller (see
// docs/operations.md, "Logs").
//
// It is a leaf: it imports only the standard library, so that the clients
// (pkg/ens, pkg/mns), the callback sender and the functions' cores can all
// log with the same keys without depending on the platform adapter
// (pkg/fcadapter), which builds the logger.
package logattr

import (
	"log/slog"
	"time"
)

// The keys. Durations are logged in milliseconds with Duration.
const (
	// KeyFCRequestID is the FC request id of the invocation; the
	// function's log handler (fcadapter.NewLogHandler) adds it to every
	// record from the context.
	KeyFCRequestID = "fcRequestId"
	// KeyFunction is the function name; the log handler adds it.
	KeyFunction = "function"
	// KeyRequestID is the request's RequestId, the same from the
	// webhook's 202 to the last callback.
	KeyRequestID = "RequestId"
	// KeyClusterID, KeyName and KeyNodepoolID name the pool.
	KeyClusterID  = "ClusterId"
	KeyName       = "Name"
	KeyNodepoolID = "NodepoolId"
	// KeyWebhookID is a callback event's webhook-id (Standard Webhooks).
	KeyWebhookID = "webhookId"
	// KeyMessageID is an MNS message id.
	KeyMessageID = "messageId"
	// KeyError is an error's text.
	KeyError = "error"
)

// Duration is the attribute "<name>Ms": d in milliseconds.
func Duration(name string, d time.Duration) slog.Attr {
	return slog.Float64(name+"Ms", float64(d.Microseconds())/1000)
}

// Error is the attribute KeyError with err's text ("" for nil).
func Error(err error) slog.Attr {
	if err == nil {
		return slog.String(KeyError, "")
	}
	return slog.String(KeyError, err.Error())
}
