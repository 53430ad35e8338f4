package worker

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ensnodepool/webhook/pkg/ens"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// group is the undecided valid requests for one (ClusterId, Name), in
// batch order.
type group struct {
	cluster, name string
	items         []*item
}

// groupByPool groups the undecided valid requests by pool, in batch order.
func groupByPool(items []*item) []*group {
	var groups []*group
	index := map[[2]string]*group{}
	for _, it := range items {
		if it.out.Outcome != "" {
			continue
		}
		k := [2]string{it.req.ClusterId, it.req.NodepoolInfo.Name}
		g := index[k]
		if g == nil {
			g = &group{cluster: k[0], name: k[1]}
			index[k] = g
			groups = append(groups, g)
		}
		g.items = append(g.items, it)
	}
	return groups
}

// described is one cluster's pools, or the error that reading them gave.
type described struct {
	pools []ens.NodePool
	err   error
}

// describe reads the pools of every cluster of groups, once per cluster,
// at most Concurrency at a time.
func (w *Worker) describe(ctx context.Context, groups []*group) map[string]*described {
	out := map[string]*described{}
	sem := make(chan struct{}, w.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, g := range groups {
		if out[g.cluster] != nil {
			continue
		}
		d := &described{}
		out[g.cluster] = d
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			d.pools, d.err = w.cfg.Pools.DescribeClusterNodePools(ctx, g.cluster)
		})
	}
	wg.Wait()
	return out
}

// decideAndFinish decides each pool's requests in order, pools
// concurrently, and writes out the outcome of every message (callbacks,
// queues) as soon as it is known. It returns the errors of outcomes that
// could not be written anywhere.
func (w *Worker) decideAndFinish(ctx, work context.Context, groups []*group, desc map[string]*described, items []*item, now time.Time) []error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, w.cfg.Concurrency)
	)
	finish := func(it *item) {
		if err := w.finish(ctx, it, now); err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	}
	for _, g := range groups {
		d := desc[g.cluster]
		wg.Go(func() {
			w.workPool(work, sem, g, d, now)
			for _, it := range g.items {
				finish(it)
			}
		})
	}
	for _, it := range items {
		if it.req == nil { // settled by admit: rejected, re-queued or failed
			wg.Go(func() { finish(it) })
		}
	}
	wg.Wait()
	return errs
}

// workPool decides the messages of one (ClusterId, Name) in order.
func (w *Worker) workPool(ctx context.Context, sem chan struct{}, g *group, d *described, now time.Time) {
	var same []ens.NodePool
	for _, p := range d.pools {
		if p.NodepoolInfo.Name == g.name {
			same = append(same, p)
		}
	}
	var (
		unsure error           // a create whose result is unknown: later ones must not create
		done   map[string]bool // RequestIds already tracked in this batch
	)
	for _, it := range g.items {
		var v verdict
		switch {
		case d.err != nil && errors.Is(d.err, ens.ErrNotFound):
			// DescribeClusterNodePools names only the cluster: the same
			// code as the poller's when a tracked pool's cluster goes.
			v = failed(CodeClusterNotFound, fmt.Sprintf("cluster %s does not exist", it.req.ClusterId))
		case d.err != nil:
			v = classify(d.err)
		case unsure != nil:
			v = verdict{transient: unsure}
		case done[it.env.RequestId]:
			v = verdict{outcome: Duplicate}
		default:
			v = w.decide(ctx, sem, it.req, &same)
			unsure = v.transient
		}
		w.settle(it, v, now)
		if it.out.Outcome == Created || it.out.Outcome == Adopted {
			if done == nil {
				done = map[string]bool{}
			}
			done[it.env.RequestId] = true
		}
	}
}

// decide adopts, refuses or creates the pool of one valid request; same
// holds the pools of that name, and a created pool is added to it.
func (w *Worker) decide(ctx context.Context, sem chan struct{}, req *nodepool.Request, same *[]ens.NodePool) verdict {
	f := nodepool.Find(req, *same)
	if f.Adopt != nil {
		return verdict{outcome: Adopted, pool: f.Adopt}
	}
	if len(f.Conflicts) > 0 {
		diffs := make([]string, len(f.Conflicts))
		for i, c := range f.Conflicts {
			diffs[i] = c.Pool.NodepoolInfo.NodepoolId + " differs in " + strings.Join(c.Fields(), ", ")
		}
		return failed(CodeConflict, fmt.Sprintf("node pool %q already exists in cluster %s with a different spec (%s)",
			req.NodepoolInfo.Name, req.ClusterId, strings.Join(diffs, "; ")))
	}
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return verdict{transient: ctx.Err()}
	}
	resp, err := w.cfg.Pools.CreateClusterNodePool(ctx, req.ENS())
	<-sem
	if err != nil {
		return classify(err)
	}
	if resp.Nodepool.NodepoolInfo.NodepoolId == "" {
		// ENS answered without an id: treat the result as unknown; the
		// re-queued message adopts the pool from the Describe.
		return verdict{transient: errors.New("worker: CreateClusterNodePool answered without a NodepoolId")}
	}
	// Record the pool as requested (the create response may not echo the
	// spec), so a later message for the same name compares against it.
	spec := req.ENS()
	p := ens.NodePool{
		ClusterId: req.ClusterId,
		NodepoolInfo: ens.NodepoolInfo{Name: req.NodepoolInfo.Name, NodepoolId: resp.Nodepool.NodepoolInfo.NodepoolId,
			EnsRegionId: resp.Nodepool.NodepoolInfo.EnsRegionId},
		ScalingGroup:     *spec.ScalingGroup,
		KubernetesConfig: spec.KubernetesConfig,
		Status:           resp.Nodepool.Status,
	}
	if p.Status.DesiredNodes == 0 {
		p.Status.DesiredNodes = spec.ScalingGroup.DesiredSize // ENS may not echo it
	}
	p.ScalingGroup.Password = ""
	*same = append(*same, p)
	return verdict{outcome: Created, pool: &(*same)[len(*same)-1]}
}

// classify turns an ENS error into a permanent failure or a transient one.
func classify(err error) verdict {
	if ae, ok := ens.AsAPIError(err); ok && !ens.IsRetryable(err) && !errors.Is(err, ens.ErrUnauthorized) {
		return failed(ae.Code, ae.Message)
	}
	return verdict{transient: err}
}

// settle records v on it. A transient failure re-queues the message, or
// fails it once its request is past the deadline.
func (w *Worker) settle(it *item, v verdict, now time.Time) {
	if v.transient != nil {
		age := now.Sub(it.env.ReceivedAt)
		if age <= w.cfg.PoolDeadline {
			v = verdict{outcome: Requeued, code: errorCode(v.transient), reason: v.transient.Error()}
		} else {
			v = failed(cmp.Or(errorCode(v.transient), CodeDeadlineExceeded),
				fmt.Sprintf("gave up after %s (pool deadline %s): %v", age.Round(time.Second), w.cfg.PoolDeadline, v.transient))
		}
	}
	it.out.Outcome, it.out.Code, it.out.Reason = v.outcome, v.code, it.scrub(v.reason)
	if v.pool != nil {
		it.pool, it.out.NodepoolId = v.pool, v.pool.NodepoolInfo.NodepoolId
	}
}

func errorCode(err error) string {
	if ae, ok := ens.AsAPIError(err); ok {
		return ae.Code
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return CodeDeadlineExceeded
	}
	return ""
}

// scrub masks the request's password in text that comes from elsewhere
// (an ENS error message may quote the parameters it refused, a transport
// error the URL it called), in the forms it can take there: as is,
// JSON-escaped, URL-encoded.
func (it *item) scrub(s string) string {
	pw := ""
	if it.req != nil {
		pw = it.req.ScalingGroup.Password
	}
	if pw == "" {
		return s
	}
	forms := []string{pw}
	for _, html := range []bool{true, false} { // JSON encoders differ on <, >, &
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		_ = enc.Encode(pw) // a string always encodes
		j := strings.TrimSuffix(b.String(), "\n")
		forms = append(forms, j[1:len(j)-1])
	}
	for _, f := range forms[:3] {
		forms = append(forms, url.QueryEscape(f), url.PathEscape(f))
	}
	for _, f := range forms {
		s = strings.ReplaceAll(s, f, nodepool.Mask)
	}
	return s
}
