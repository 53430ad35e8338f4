package admission

import (
	"context"
	"errors"
	"strings"

	"github.com/ensnodepool/webhook/pkg/caller"
	"github.com/ensnodepool/webhook/pkg/ens"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// The outcomes of a dry run: what the worker would do with the request
// now.
const (
	// OutcomeCreate: no pool of the request's name exists; the worker
	// would create it.
	OutcomeCreate = "create"
	// OutcomeAdopt: a pool of that name with the same spec exists; the
	// worker would adopt it (no create).
	OutcomeAdopt = "adopt"
	// OutcomeConflict: pools of that name exist and none has the
	// request's spec; the worker would fail the request with Conflict.
	OutcomeConflict = "conflict"
)

// DryRunResult is what a dry run found.
type DryRunResult struct {
	// Outcome is OutcomeCreate, OutcomeAdopt or OutcomeConflict.
	Outcome string
	// Pool is the pool adopted or, for a conflict, the first pool of the
	// name that differs; nil for a create.
	Pool *ens.NodePool
	// Differences are how Pool differs from the request (a conflict
	// only), in the order and with the names of the worker's Conflict.
	Differences []nodepool.Difference
}

// DryRun answers "would this request work?" without doing it: Check (the
// request rules, the caller's policy, a reused RequestId), then the
// request's cluster as ENS describes it now (Config.Pools, through the
// front door's ENS client and its describe rate limit) judged by the
// worker's own rule, nodepool.Find. Nothing is queued, remembered or
// created. A cluster ENS does not know is an *Error with
// CodeClusterNotFound; ENS not answering, CodeUnavailable. The decision
// is audited as caller.ActionDryRun.
func (a *Admission) DryRun(ctx context.Context, r Request) (DryRunResult, error) {
	if a.cfg.Pools == nil {
		return DryRunResult{}, errors.New("admission: DryRun needs Config.Pools")
	}
	if _, err := a.check(ctx, r, caller.ActionDryRun); err != nil {
		return DryRunResult{}, err
	}
	req := r.Request
	dctx, cancel := context.WithTimeout(ctx, a.cfg.DescribeTimeout)
	pools, err := a.cfg.Pools.DescribeClusterNodePools(dctx, req.ClusterId)
	cancel()
	switch {
	case errors.Is(err, ens.ErrNotFound):
		return DryRunResult{}, a.deny(ctx, r, caller.ActionDryRun,
			&Error{Code: CodeClusterNotFound, Message: "ENS does not know the cluster " + req.ClusterId, Field: "ClusterId", Err: err},
			"cluster not found")
	case err != nil:
		a.audit(ctx, r, caller.ActionDryRun, caller.DecisionFailed, "ENS unavailable")
		return DryRunResult{}, &Error{Code: CodeUnavailable, Message: "ENS did not answer; nothing was checked against it, retry later", Err: err}
	}
	f := nodepool.Find(req, pools)
	res := DryRunResult{Outcome: OutcomeCreate}
	reason := OutcomeCreate
	switch {
	case f.Adopt != nil:
		res = DryRunResult{Outcome: OutcomeAdopt, Pool: f.Adopt}
		reason = OutcomeAdopt + " " + f.Adopt.NodepoolInfo.NodepoolId
	case len(f.Conflicts) > 0:
		c := f.Conflicts[0]
		res = DryRunResult{Outcome: OutcomeConflict, Pool: c.Pool, Differences: c.Differences}
		reason = OutcomeConflict + " " + c.Pool.NodepoolInfo.NodepoolId + " differs in " + strings.Join(c.Fields(), ", ")
	}
	a.audit(ctx, r, caller.ActionDryRun, caller.DecisionAccepted, reason)
	return res, nil
}
