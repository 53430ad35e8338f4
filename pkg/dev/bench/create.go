package bench

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/clock"
	"github.com/ensnodepool/webhook/pkg/dev/enssim"
	"github.com/ensnodepool/webhook/pkg/dev/localstack"
	"github.com/ensnodepool/webhook/pkg/ens"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// ensWriteLimit is the ENS limit for CreateClusterNodePool per account
// (https://www.alibabacloud.com/help/en/ens/developer-reference/api-ens-2017-11-10-createclusternodepool),
// which the simulator enforces by default.
const ensWriteLimit = 10.0

// poolWatch samples the ENS simulator's pools and records when each one
// was first listed and first listed active.
type poolWatch struct {
	mu       sync.Mutex
	seen     map[string]time.Time
	active   map[string]time.Time
	start    time.Time // when watching began (just before the creates)
	first    time.Time // when the first pool was listed
	firstN   int       // how many were listed then
	all      time.Time // when want pools were listed
	want     int
	allReady chan struct{}
}

const watchEvery = 10 * time.Millisecond

func watchPools(ctx context.Context, sim *enssim.Server, want int) (*poolWatch, func()) {
	w := &poolWatch{seen: map[string]time.Time{}, active: map[string]time.Time{}, want: want, allReady: make(chan struct{}), start: time.Now()}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(watchEvery)
		defer t.Stop()
		for {
			pools := sim.Pools("")
			now := time.Now()
			w.mu.Lock()
			for _, p := range pools {
				id := p.NodepoolInfo.NodepoolId
				if _, ok := w.seen[id]; !ok {
					w.seen[id] = now
				}
				if _, ok := w.active[id]; !ok && p.Status.State == enssim.StateActive {
					w.active[id] = now
				}
			}
			if w.first.IsZero() && len(pools) > 0 {
				w.first, w.firstN = now, len(pools)
			}
			if w.all.IsZero() && len(pools) >= w.want {
				w.all = now
				close(w.allReady)
			}
			w.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return w, func() { cancel(); <-done }
}

// createRate is creates/s between the first listed pool and the last.
// When every pool appeared in the first sample that listed any (a burst
// faster than the sampling), it is the pools over the time since watching
// began instead: a lower bound, never a division by a zero interval.
func (w *poolWatch) createRate() float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.all.IsZero():
		return 0
	case w.firstN >= w.want || !w.all.After(w.first):
		return float64(w.want) / w.all.Sub(w.start).Seconds()
	}
	return float64(w.want-w.firstN) / w.all.Sub(w.first).Seconds()
}

// seenAt returns when pool id was first listed.
func (w *poolWatch) seenAt(id string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.seen[id]
	return t, ok
}

func (w *poolWatch) activeAt(id string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.active[id]
	return t, ok
}

// duplicates counts creates beyond the first per (ClusterId, Name).
func duplicates(st enssim.Stats) int64 {
	var n int64
	for _, c := range st.Creates {
		n += max(0, c.Count-1)
	}
	return n
}

// creation submits Creates requests through the webhook of a fresh stack,
// measures the worker's creates against the ENS limit from the ENS
// simulator's own counters, then waits for every pool's nodepool.active
// callback and measures how long after the pool turned active it arrived.
// The naive create baseline runs afterwards against its own simulator.
func (r *run) creation(ctx context.Context) (create, e2e Section, err error) {
	create, e2e = Section{Name: SectionCreation}, Section{Name: SectionE2E}
	n := r.cfg.Creates
	cfg := r.stackConfig("creation")
	r.progress("creation: starting the local stack (poll %v, provisioning %v)", r.cfg.PollInterval, r.cfg.Provision)
	st, err := localstack.Start(ctx, cfg)
	if err != nil {
		return create, e2e, err
	}
	defer st.Close()
	rcv, err := localstack.NewReceiver(localstack.ReceiverConfig{Secrets: []string{r.callbackSecret}})
	if err != nil {
		return create, e2e, err
	}
	defer rcv.Close()
	watch, stop := watchPools(ctx, st.ENS(), n)
	defer stop()
	if err := r.submitCreates(ctx, st.URL(), rcv.URL(), watch); err != nil {
		return create, e2e, err
	}
	simStats := st.ENS().Stats()
	rate := watch.createRate()
	r.progress("creation: waiting for %d nodepool.active callbacks", n)
	got, err := r.terminalCallbacks(ctx, rcv, watch)
	if err != nil {
		return create, e2e, err
	}
	r.recordRSS(st)
	stop()

	naive, err := r.naiveCreates(ctx)
	if err != nil {
		return create, e2e, err
	}
	return r.createSection(simStats, rate, naive, st.Config().BatchSize), r.e2eSection(got), nil
}

// submitCreates POSTs the Creates requests (callbacks to callbackURL),
// 8 at a time, and waits until the ENS simulator lists every pool.
func (r *run) submitCreates(ctx context.Context, webhookURL, callbackURL string, watch *poolWatch) error {
	n := r.cfg.Creates
	r.progress("creation: submitting %d requests", n)
	if err := r.submit(ctx, "create", n, webhookURL, callbackURL); err != nil {
		return err
	}
	limit := time.Duration(float64(n)/ensWriteLimit*float64(time.Second))*3 + 60*time.Second
	select {
	case <-watch.allReady:
		return nil
	case <-time.After(limit):
		return fmt.Errorf("%w: %d pools not created within %v", ErrRun, n, limit)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// callbackTally is what the receiver got for the creation run's pools.
type callbackTally struct {
	latency                []time.Duration // pool seen active → its active callback
	active, creating, dups int
	failures               map[string]int // failed or timeout, by error code
}

// terminalCallbacks reads callbacks until every pool of the run has its
// terminal one (nodepool.active, or a failure) and tallies them.
func (r *run) terminalCallbacks(ctx context.Context, rcv *localstack.Receiver, watch *poolWatch) (callbackTally, error) {
	n := r.cfg.Creates
	wait, cancel := context.WithTimeout(ctx, 4*(r.cfg.Provision+r.cfg.PollInterval)+60*time.Second)
	defer cancel()
	got := callbackTally{failures: map[string]int{}}
	done := map[string]bool{}
	for len(done) < n {
		c, err := rcv.Next(wait)
		if err != nil {
			return got, fmt.Errorf("%w: %d of %d pools reported: %w", ErrRun, len(done), n, err)
		}
		id := c.Event.Data.NodepoolId
		switch {
		case c.Duplicate:
			got.dups++
		case c.Event.Type == callback.TypeCreating:
			got.creating++
		case c.Event.Type == callback.TypeActive:
			at, ok := watch.activeAt(id)
			if !ok {
				return got, fmt.Errorf("%w: active callback for %s before the pool was seen active", ErrRun, id)
			}
			done[id] = true
			got.active++
			got.latency = append(got.latency, c.At.Sub(at))
		default: // failed or timeout: the pools never fail in this run
			done[id] = true
			code := c.Event.Type
			if c.Event.Data.Error != nil {
				code = c.Event.Data.Error.Code
			}
			got.failures[code]++
			r.progress("creation: %s for %s: %+v", c.Event.Type, c.Event.Data.Name, c.Event.Data.Error)
		}
	}
	return got, nil
}

// createSection is the creation rows: the worker's creates beside the
// naive baseline's.
func (r *run) createSection(simStats enssim.Stats, rate float64, naive naiveResult, batchSize int) Section {
	n := r.cfg.Creates
	dup := duplicates(simStats)
	create := Section{Name: SectionCreation}
	create.Rows = []Row{
		Row{Metric: "creates/s", Value: rate, Unit: "/s", Note: fmt.Sprintf("%d pools", simStats.Pools)}.withNaive(naive.rate),
		Row{Metric: "fraction of the ENS write limit (10/s)", Value: rate / ensWriteLimit}.withNaive(naive.rate/ensWriteLimit).
			check("≥ 0.95", rate/ensWriteLimit >= 0.95),
		Row{Metric: "throttled responses", Value: float64(simStats.Throttled), Unit: "calls"}.withNaive(float64(naive.stats.Throttled)).
			check("0", simStats.Throttled == 0),
		Row{Metric: "duplicate creates", Value: float64(dup), Unit: "calls"}.withNaive(float64(duplicates(naive.stats))).
			check("0", dup == 0),
		Row{Metric: "most creates in any 1-s window", Value: float64(simStats.MaxPerSecond["CreateClusterNodePool"]), Unit: "calls"}.
			withNaive(float64(naive.stats.MaxPerSecond["CreateClusterNodePool"])),
		Row{Metric: "CreateClusterNodePool calls", Value: float64(simStats.Calls["CreateClusterNodePool"]), Unit: "calls",
			Note: "every call the simulator authenticated, throttled ones included"}.withNaive(float64(naive.stats.Calls["CreateClusterNodePool"])),
	}
	create.Setup = fmt.Sprintf("%d signed requests POSTed to the local stack's webhook (8 at a time), worked by the worker binary "+
		"(1 instance, batches of %d); creates/s (both columns) = pools listed by the ENS simulator from the sample with its first pool to the sample with the last, sampled every %v; "+
		"throttled, duplicates and the 1-s window from the simulator's admin stats (limit 10 writes/s per key). "+
		"Naive: the same %d creates from %d goroutines through pkg/ens with the limiter off (rate 1e9) and no retries, "+
		"sleeping a fixed 1 s after each Throttling answer, against a fresh simulator with the same limit",
		n, batchSize, watchEvery, n, r.cfg.NaiveConcurrency)
	return create
}

// e2eSection is the rows of the time from a pool turning active to its
// callback, in poll intervals.
func (r *run) e2eSection(got callbackTally) Section {
	n, interval := r.cfg.Creates, r.cfg.PollInterval
	bound := interval + time.Second
	lat := got.latency
	p50, p99, mx := Percentile(lat, 50), Percentile(lat, 99), Percentile(lat, 100)
	in := func(d time.Duration) float64 { return d.Seconds() / interval.Seconds() }
	e2e := Section{Name: SectionE2E}
	e2e.Rows = []Row{
		{Metric: "active → callback p50", Value: in(p50), Unit: "intervals", Note: fmt.Sprintf("%.2f s", p50.Seconds()),
			Extra: map[string]float64{"seconds": p50.Seconds()}},
		{Metric: "active → callback p99", Value: in(p99), Unit: "intervals", Note: fmt.Sprintf("%.2f s", p99.Seconds()),
			Extra: map[string]float64{"seconds": p99.Seconds()}},
		Row{Metric: "active → callback max", Value: in(mx), Unit: "intervals", Note: fmt.Sprintf("%.2f s", mx.Seconds()),
			Extra: map[string]float64{"seconds": mx.Seconds()}}.
			check(fmt.Sprintf("≤ %.2f (1 interval + 1 s)", in(bound)), mx <= bound),
		Row{Metric: "active callbacks", Value: float64(got.active), Unit: "pools",
			Note: fmt.Sprintf("%d creating callbacks, %d duplicate deliveries", got.creating, got.dups)}.check(fmt.Sprintf("= %d", n), got.active == n),
		Row{Metric: "false failed/timeout callbacks", Value: float64(n - got.active), Unit: "pools",
			Note: failureNote(got.failures)}.check("0", got.active == n),
	}
	e2e.Setup = fmt.Sprintf("the %d pools of the creation run, poll interval %v, simulated provisioning %v (the local stack's 1:2 ratio; "+
		"POLL_MAX = min(¾ interval, 4 s), POLL_FIRST = min(POLL_MAX, provisioning), POLL_WATCH = 11/12 interval); latency = arrival of the signed nodepool.active callback "+
		"at a loopback receiver − the first %v sample in which the ENS simulator listed the pool active",
		n, interval, r.cfg.Provision, watchEvery)
	return e2e
}

// naiveResult is the naive create baseline's outcome.
type naiveResult struct {
	rate  float64
	stats enssim.Stats
}

// naiveCreates runs the naive baseline: no client limiter, a fixed 1 s
// sleep after each throttled answer.
func (r *run) naiveCreates(ctx context.Context) (naiveResult, error) {
	n := r.cfg.Creates
	r.progress("creation: naive baseline, %d creates from %d goroutines", n, r.cfg.NaiveConcurrency)
	sim, err := enssim.New(enssim.Config{AccessKeyID: localstack.DevAccessKeyID, AccessKeySecret: localstack.DevAccessKeySecret})
	if err != nil {
		return naiveResult{}, err
	}
	srv := httptest.NewServer(sim)
	defer func() { srv.Close(); _ = sim.Close() }()
	c, err := ens.New(ens.Config{Endpoint: strings.TrimPrefix(srv.URL, "http://"), Protocol: "HTTP",
		Credentials: ens.Credentials{AccessKeyID: localstack.DevAccessKeyID, AccessKeySecret: localstack.DevAccessKeySecret},
		WriteRate:   1e9, DescribeRate: 1e9, MaxAttempts: 1})
	if err != nil {
		return naiveResult{}, err
	}
	req, err := nodepool.Decode(r.cfg.Template)
	if err != nil {
		return naiveResult{}, err
	}
	watch, stop := watchPools(ctx, sim, n)
	defer stop()
	_, err = load(ctx, r.cfg.NaiveConcurrency, n, func(ctx context.Context, i int) error {
		er := req.ENS()
		er.NodepoolInfo.Name = fmt.Sprintf("naive-%04d", i)
		for {
			_, err := c.CreateClusterNodePool(ctx, er)
			if !errors.Is(err, ens.ErrThrottled) {
				return err
			}
			if err := clock.Sleep(ctx, time.Second); err != nil {
				return err
			}
		}
	})
	if err != nil {
		return naiveResult{}, err
	}
	select { // the watch's last sample
	case <-watch.allReady:
	case <-ctx.Done():
		return naiveResult{}, ctx.Err()
	}
	return naiveResult{rate: watch.createRate(), stats: sim.Stats()}, nil
}

// failureNote lists failure codes and counts, e.g. "NodepoolVanished ×3".
func failureNote(f map[string]int) string {
	if len(f) == 0 {
		return "every simulated pool became active"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(f)) {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, f[k]))
	}
	return strings.Join(parts, ", ")
}
