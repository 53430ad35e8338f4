package caller

import (
	"context"
	"log/slog"
)

// Sources of an audited decision (Record.Source). ChatOps decisions use
// the platform name: PlatformSlack, PlatformDingTalk, PlatformFeishu.
const (
	SourceAPI      = "api"
	SourceQueue    = "queue"
	SourceCallback = "callback" // an event delivered or dead-lettered
)

// Actions of an audited decision (Record.Action).
const (
	ActionCreate  = "create"
	ActionStatus  = "status"
	ActionDeliver = "deliver"
	ActionDryRun  = "dry-run" // a create asked with dryRun: nothing queued
)

// Decisions (Record.Decision).
const (
	DecisionAccepted     = "accepted"
	DecisionDenied       = "denied"
	DecisionCreated      = "created"
	DecisionAdopted      = "adopted"
	DecisionConflict     = "conflict"
	DecisionFailed       = "failed"
	DecisionDelivered    = "delivered"
	DecisionDeadLettered = "dead-lettered"
)

// SimpleCaller is the Caller of audit records in simple mode (no CALLERS).
const SimpleCaller = "default"

// Record is one audited decision.
type Record struct {
	// Caller is the caller's Id; SimpleCaller in simple mode; empty when
	// no caller could be established (a bad signature, an unmapped chat
	// user, an envelope without Caller).
	Caller string
	// Source is SourceAPI, SourceQueue or a chat platform.
	Source string
	// Action is ActionCreate, ActionStatus, ActionDeliver or ActionDryRun.
	Action string
	// ClusterId, Name and RequestId identify the request, when known.
	ClusterId, Name, RequestId string
	// Decision is one of the Decision constants.
	Decision string
	// Reason explains a denial or failure, or names the delivered event
	// type; never a secret or a password.
	Reason string
}

// Audit writes r as one INFO record "msg":"audit" with the keys Caller,
// Source, Action, ClusterId, Name, RequestId, Decision and Reason (empty
// values are kept, so every record has the same keys for queries).
func Audit(ctx context.Context, log *slog.Logger, r Record) {
	if log == nil {
		return
	}
	log.LogAttrs(ctx, slog.LevelInfo, "audit",
		slog.String("Caller", r.Caller),
		slog.String("Source", r.Source),
		slog.String("Action", r.Action),
		slog.String("ClusterId", r.ClusterId),
		slog.String("Name", r.Name),
		slog.String("RequestId", r.RequestId),
		slog.String("Decision", r.Decision),
		slog.String("Reason", r.Reason))
}
