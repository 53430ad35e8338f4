package bench

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/dev/enssim"
	"github.com/ensnodepool/webhook/pkg/dev/localstack"
	"github.com/ensnodepool/webhook/pkg/dev/mnssim"
	"github.com/ensnodepool/webhook/pkg/ens"
	"github.com/ensnodepool/webhook/pkg/mns"
	"github.com/ensnodepool/webhook/pkg/poller"
	"github.com/ensnodepool/webhook/pkg/tracking"
)

// pollEnv is the polling section's services, in-process on loopback.
type pollEnv struct {
	mns   *mnssim.Server
	sim   *enssim.Server
	srvs  []*httptest.Server
	setup *ens.Client // creates pools, unlimited
	reads *ens.Client // what the poller and the naive baseline use: the real 100/s describe limit
	qc    *mns.Client
}

func (e *pollEnv) close() {
	e.mns.CancelPolls()
	for _, s := range e.srvs {
		s.Close()
	}
	_ = e.mns.Close()
	_ = e.sim.Close()
}

func (r *run) newPollEnv(ctx context.Context) (*pollEnv, error) {
	ak, sk := localstack.DevAccessKeyID, localstack.DevAccessKeySecret
	e := &pollEnv{}
	var err error
	if e.mns, err = mnssim.New(mnssim.Config{AccessKeyID: ak, AccessKeySecret: sk}); err != nil {
		return nil, err
	}
	var seeds []enssim.ClusterSeed
	for i := range r.cfg.PollClusters {
		seeds = append(seeds, enssim.ClusterSeed{ClusterId: pollCluster(i), Name: "bench", EnsRegionId: "cn-bench-1",
			VswitchIds: []string{"vsw-bench0001"}})
	}
	// Writes unlimited (setup only); describes at the real 100/s.
	if e.sim, err = enssim.New(enssim.Config{AccessKeyID: ak, AccessKeySecret: sk, ProvisionTime: 24 * time.Hour,
		WriteRate: 1 << 30, Clusters: seeds}); err != nil {
		_ = e.mns.Close()
		return nil, err
	}
	mh, eh := httptest.NewServer(e.mns), httptest.NewServer(e.sim)
	e.srvs = []*httptest.Server{mh, eh}
	ok := false
	defer func() {
		if !ok {
			e.close()
		}
	}()
	cr := ens.Credentials{AccessKeyID: ak, AccessKeySecret: sk}
	host := strings.TrimPrefix(eh.URL, "http://")
	if e.setup, err = ens.New(ens.Config{Endpoint: host, Protocol: "HTTP", Credentials: cr, WriteRate: 1e9, DescribeRate: 1e9}); err != nil {
		return nil, err
	}
	if e.reads, err = ens.New(ens.Config{Endpoint: host, Protocol: "HTTP", Credentials: cr}); err != nil {
		return nil, err
	}
	if e.qc, err = mns.New(mns.Config{Endpoint: mh.URL, Credentials: mns.Credentials{AccessKeyID: ak, AccessKeySecret: sk}}); err != nil {
		return nil, err
	}
	if err := e.qc.EnsureQueue(ctx, "deadletter", mns.QueueAttributes{VisibilityTimeout: 30 * time.Second}); err != nil {
		return nil, err
	}
	ok = true
	return e, nil
}

func pollCluster(i int) string { return fmt.Sprintf("eck-bench%02d", i+1) }

// tracked is one created pool.
type tracked struct{ cluster, name, id string }

// createPools creates pools so that every cluster holds perCluster.
func (e *pollEnv) createPools(ctx context.Context, have []tracked, clusters, perCluster int) ([]tracked, error) {
	var todo []tracked
	count := map[string]int{}
	for _, t := range have {
		count[t.cluster]++
	}
	for c := range clusters {
		for i := count[pollCluster(c)]; i < perCluster; i++ {
			todo = append(todo, tracked{cluster: pollCluster(c), name: fmt.Sprintf("p%05d", i)})
		}
	}
	var mu sync.Mutex
	_, err := load(ctx, 16, len(todo), func(ctx context.Context, i int) error {
		t := todo[i]
		resp, err := e.setup.CreateClusterNodePool(ctx, &ens.CreateClusterNodePoolRequest{
			ClusterId: t.cluster, NodepoolInfo: &ens.NodepoolInfo{Name: t.name},
			ScalingGroup: &ens.ScalingGroup{ImageId: "m-bench", InstanceTypes: []string{"ens.sn1.small"},
				VswitchIds: []string{"vsw-bench0001"}, DesiredSize: 1, KeyPairName: "bench"},
		})
		if err != nil {
			return err
		}
		mu.Lock()
		todo[i].id = resp.Nodepool.NodepoolInfo.NodepoolId
		mu.Unlock()
		return nil
	})
	return append(have, todo...), err
}

// trackAll puts one visible tracking message per pool on a fresh queue.
func (e *pollEnv) trackAll(ctx context.Context, name string, pools []tracked) (*mns.Queue, error) {
	if err := e.qc.EnsureQueue(ctx, name, mns.QueueAttributes{VisibilityTimeout: 5 * time.Minute}); err != nil {
		return nil, err
	}
	q := e.qc.Queue(name)
	now := time.Now()
	for i := 0; i < len(pools); i += mns.MaxBatch {
		var outs []mns.Outgoing
		for _, p := range pools[i:min(i+mns.MaxBatch, len(pools))] {
			m := tracking.Message{Version: tracking.Version, RequestId: "req_" + p.id, ClusterId: p.cluster, Name: p.name,
				NodepoolId: p.id, CreatedAt: now, Deadline: now.Add(48 * time.Hour)}
			body, err := m.Marshal()
			if err != nil {
				return nil, err
			}
			outs = append(outs, mns.Outgoing{Body: body})
		}
		if _, err := q.SendBatch(ctx, outs); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// polling measures one poller tick over n tracked pools (every one due,
// all still provisioning: the steady-state tick) for each size, and the
// naive per-pool polling of the same pools.
func (r *run) polling(ctx context.Context) (Section, error) {
	sec := Section{Name: SectionPolling}
	e, err := r.newPollEnv(ctx)
	if err != nil {
		return sec, err
	}
	defer e.close()
	sender, err := callback.NewDeliverer(callback.Config{Secrets: []string{r.callbackSecret}, AllowHTTP: true,
		Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if err != nil {
		return sec, err
	}
	defer sender.Close()
	var pools []tracked
	for _, n := range r.cfg.PollSizes {
		per := n / r.cfg.PollClusters
		n = per * r.cfg.PollClusters
		r.progress("polling: %d pools in %d clusters", n, r.cfg.PollClusters)
		if pools, err = e.createPools(ctx, pools, r.cfg.PollClusters, per); err != nil {
			return sec, err
		}
		rows, err := r.pollSize(ctx, e, sender, pools, n)
		if err != nil {
			return sec, err
		}
		sec.Rows = append(sec.Rows, rows...)
	}
	sec.Setup = fmt.Sprintf("in-process pkg/poller (one Tick) against the MNS and ENS simulators on loopback, through pkg/mns and pkg/ens "+
		"with the real 100/s describe limit (client and simulator), PageSize %d, pools spread over %d clusters, every message due and every pool "+
		"still provisioning (each is checked and replaced); the tick time excludes the 1 s idle long poll a deployed tick ends with. "+
		"Naive: one DescribeClusterNodePools call per pool (4 at a time, same client and limit)", ens.MaxPageSize, r.cfg.PollClusters)
	return sec, nil
}

// pollSize measures one poller tick over pools (all tracked anew, every
// one due; n of them expected) and the naive one-describe-per-pool
// polling of the same pools.
func (r *run) pollSize(ctx context.Context, e *pollEnv, sender *callback.Deliverer, pools []tracked, n int) ([]Row, error) {
	per := n / r.cfg.PollClusters
	q, err := e.trackAll(ctx, fmt.Sprintf("tracking-%d", n), pools)
	if err != nil {
		return nil, err
	}
	p, err := poller.New(poller.Config{Tracking: q, DeadLetter: e.qc.Queue("deadletter"), Pools: e.reads,
		Deliverer: sender, ReceiveWait: -1, MaxTick: 5 * time.Minute})
	if err != nil {
		return nil, err
	}
	before := e.sim.Stats().Calls["DescribeClusterNodePools"]
	tctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	st, err := p.Tick(tctx)
	cancel()
	if err != nil {
		return nil, err
	}
	calls := e.sim.Stats().Calls["DescribeClusterNodePools"] - before
	if st.Checked != n {
		return nil, fmt.Errorf("%w: polling %d pools: the tick checked %d", ErrRun, n, st.Checked)
	}
	lower := int64(r.cfg.PollClusters * ((per + ens.MaxPageSize - 1) / ens.MaxPageSize))

	r.progress("polling: naive, one describe per pool (%d calls at ≤ 100/s)", n)
	before = e.sim.Stats().Calls["DescribeClusterNodePools"]
	naive, err := load(ctx, 4, n, func(ctx context.Context, i int) error {
		_, err := e.reads.DescribeClusterNodePoolsPage(ctx, pools[i].cluster, 1, 1)
		return err
	})
	if err != nil {
		return nil, err
	}
	naiveCalls := e.sim.Stats().Calls["DescribeClusterNodePools"] - before
	label := fmt.Sprintf("%d pools: ", n)
	return []Row{
		Row{Metric: label + "ENS calls per tick", Value: float64(calls), Unit: "calls",
			Note: fmt.Sprintf("lower bound Σ ceil(pools/cluster / %d) = %d", ens.MaxPageSize, lower)}.withNaive(float64(naiveCalls)),
		Row{Metric: label + "calls / lower bound", Value: float64(calls) / float64(lower), Unit: "×"}.
			withNaive(float64(naiveCalls)/float64(lower)).check("1.0", calls == lower),
		Row{Metric: label + "tick wall time", Value: st.Duration.Seconds(), Unit: "s",
			Note:  fmt.Sprintf("%d checked, %d replaced", st.Checked, st.Replaced),
			Extra: map[string]float64{"checked": float64(st.Checked), "replaced": float64(st.Replaced)}}.withNaive(naive.took.Seconds()),
	}, nil
}
