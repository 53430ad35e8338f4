package worker

import (
	"cmp"
	"context"
	"log/slog"

	"github.com/ensnodepool/webhook/pkg/caller"
	"github.com/ensnodepool/webhook/pkg/logattr"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// audit writes one audit record about it.
func (w *Worker) audit(ctx context.Context, it *item, action, decision, reason, source string) {
	who := caller.SimpleCaller
	if w.cfg.Callers != nil {
		who = ""
	}
	if it.who != nil {
		who = it.who.Id
	}
	caller.Audit(ctx, w.cfg.Logger, caller.Record{Caller: who, Source: source, Action: action,
		ClusterId: it.out.ClusterId, Name: it.out.Name, RequestId: it.out.RequestId, Decision: decision, Reason: reason})
}

// auditSource names where the item's request came from: api, a chat
// platform, or queue (and any other envelope Source as written).
func auditSource(it *item) string {
	if it.env == nil {
		return caller.SourceQueue
	}
	switch it.env.Source {
	case nodepool.SourceWebhook:
		return caller.SourceAPI
	case nodepool.SourceChatOps:
		return cmp.Or(it.callback.Format, nodepool.SourceChatOps)
	}
	return it.env.Source
}

// auditOutcome writes the audit record of a message's outcome (created,
// adopted, conflict, denied, failed); re-queued and duplicate messages
// are not decisions yet.
func (w *Worker) auditOutcome(ctx context.Context, it *item) {
	var decision string
	switch it.out.Outcome {
	case Created:
		decision = caller.DecisionCreated
	case Adopted:
		decision = caller.DecisionAdopted
	case Failed, Rejected, Lost:
		switch it.out.Code {
		case CodeConflict:
			decision = caller.DecisionConflict
		case CodeForbidden:
			decision = caller.DecisionDenied
		default:
			decision = caller.DecisionFailed
		}
	default:
		return
	}
	reason := it.out.Reason
	if it.out.Code != "" && it.out.Code != CodeForbidden {
		reason = it.out.Code + ": " + reason
	}
	w.audit(ctx, it, caller.ActionCreate, decision, reason, auditSource(it))
}

// log writes one record per message, named after its outcome ("worker:
// created", "worker: adopted", ...): INFO for a state change that went
// well, WARN for a failure, a rejection or a re-queue, ERROR for a lost
// outcome. Never a body or a password.
func (w *Worker) log(ctx context.Context, it *item) {
	w.auditOutcome(ctx, it)
	level := slog.LevelInfo
	switch it.out.Outcome {
	case Failed, Rejected, Requeued:
		level = slog.LevelWarn
	case Lost:
		level = slog.LevelError
	}
	w.cfg.Logger.LogAttrs(ctx, level, "worker: "+string(it.out.Outcome),
		slog.String("outcome", string(it.out.Outcome)),
		slog.String(logattr.KeyRequestID, it.out.RequestId),
		slog.String(logattr.KeyMessageID, it.out.MessageID),
		slog.String(logattr.KeyClusterID, it.out.ClusterId),
		slog.String(logattr.KeyName, it.out.Name),
		slog.String(logattr.KeyNodepoolID, it.out.NodepoolId),
		slog.String("code", it.out.Code),
		slog.String("reason", it.out.Reason),
		slog.Bool("notified", it.out.Notified))
}
