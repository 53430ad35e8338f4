package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/dev/localstack"
	"github.com/ensnodepool/webhook/pkg/dev/mnssim"
)

// Cost assumptions of the minute section. Function time is billed per
// GB-second of configured memory (s.yaml: 128 MB for every function); the
// unit prices are the run's assumptions, stated in the report beside the
// numbers (they are not read from a price list: check the current ones).
const (
	functionMemoryGB = 128.0 / 1024
	// Assumed prices in USD: function memory time per GB-s, function
	// invocations per million, MNS requests per million.
	priceGBs        = 0.0000163
	priceInvocation = 0.2 / 1e6
	priceMNSRequest = 0.16 / 1e6
)

// design is one poller configuration measured by the minute section.
type design struct {
	name string
	env  map[string]string // on top of the stack's (deployed) settings
}

// designResult is what one design's run measured.
type designResult struct {
	lat          []time.Duration // active → callback
	poolHours    float64         // Σ (active callback − pool listed), hours
	ensCalls     map[string]int64
	mnsRequests  map[string]int64
	invocations  map[string]int
	seconds      map[string]float64 // function time
	maxPollerRun time.Duration
	active, dups int
}

// countingMNS is an MNS simulator whose requests are counted by kind.
type countingMNS struct {
	sim *mnssim.Server
	mu  sync.Mutex
	n   map[string]int64
}

func (c *countingMNS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := "other"
	if strings.Contains(r.URL.Path, "/messages") {
		switch r.Method {
		case http.MethodPost:
			op = "send"
		case http.MethodGet:
			op = "receive"
		case http.MethodDelete:
			op = "delete"
		case http.MethodPut:
			op = "visibility"
		}
	}
	c.mu.Lock()
	c.n[op]++
	c.mu.Unlock()
	c.sim.ServeHTTP(w, r)
}

func (c *countingMNS) counts() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int64{}
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

// minute measures callbacks under the deployed timer: the local stack
// with a MinutePeriod timer (60 s) and the poller's timeout just under it,
// MinutePools requests whose pools take MinuteProvision plus up to
// MinuteSpread to provision, once with the deployed settings (watching
// within the invocation) and once with the previous design's (one pass per
// timer event, checks backing off from 10 s to 50 s), side by side.
func (r *run) minute(ctx context.Context) (Section, error) {
	s := Section{Name: SectionMinute}
	designs := r.minuteDesigns()
	results := make([]designResult, len(designs))
	errs := make([]error, len(designs))
	var wg sync.WaitGroup
	for i, d := range designs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = r.minuteRun(ctx, d)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return s, err
		}
	}
	nw, np := results[0], results[1]
	s.Rows = append(r.minuteLatencyRows(nw, np), r.minuteCostRows(nw, np)...)
	s.Setup = fmt.Sprintf("two local stacks side by side, timer period %v, poller timeout %v, %d requests each (8 at a time), "+
		"simulated provisioning %v + a per-pool share of %v (spread by name); VALUE = deployed settings (the poller watches pools in flight "+
		"within its invocation: POLL_WATCH 11/12 of the period, checks every POLL_MAX %v), NAIVE column = the previous design "+
		"(one pass per timer event, POLL_FIRST 10 s, POLL_MAX 50 s, scaled to the period); latency = signed nodepool.active callback "+
		"at a loopback receiver − first %v sample listing the pool active; costs from the measured invocation times and counted "+
		"requests, per 1,000 created pools, over the run (first request to last active callback)",
		r.cfg.MinutePeriod, r.minutePollerTimeout(), r.cfg.MinutePools, r.cfg.MinuteProvision, r.cfg.MinuteSpread, config.DefaultPollMax, watchEvery)
	return s, nil
}

// minuteDesigns are the two poller configurations compared: the deployed
// one ("watch") and the previous one ("pass"), its check times scaled to
// a timer period under a minute.
func (r *run) minuteDesigns() []design {
	designs := []design{
		{name: "watch"},
		{name: "pass", env: map[string]string{config.EnvPollFirst: "10s", config.EnvPollMax: "50s", config.EnvPollWatch: "1ms"}},
	}
	if r.cfg.MinutePeriod < time.Minute {
		scale := func(d time.Duration) string {
			return time.Duration(float64(d) * r.cfg.MinutePeriod.Seconds() / 60).Round(time.Millisecond).String()
		}
		designs[1].env[config.EnvPollFirst], designs[1].env[config.EnvPollMax] = scale(10*time.Second), scale(50*time.Second)
	}
	return designs
}

// minuteRow is one row of the minute section: the deployed design's value
// beside the previous design's.
func minuteRow(metric string, w, p float64, unit, note string) Row {
	return Row{Metric: metric, Value: w, Unit: unit, Note: note}.withNaive(p)
}

// minuteLatencyRows are the rows of callback latency, completeness,
// invocation length and ENS reads, deployed (nw) beside previous (np).
func (r *run) minuteLatencyRows(nw, np designResult) []Row {
	n := r.cfg.MinutePools
	sec := func(d time.Duration) float64 { return d.Seconds() }
	p99 := Percentile(nw.lat, 99)
	describe := func(x designResult) float64 {
		return float64(x.ensCalls["DescribeClusterNodePools"]) / max(x.poolHours, 1e-9)
	}
	rows := []Row{
		minuteRow("active → callback p50", sec(Percentile(nw.lat, 50)), sec(Percentile(np.lat, 50)), "s", ""),
		minuteRow("active → callback p99", sec(p99), sec(Percentile(np.lat, 99)), "s", "").
			check("≤ 10 s", p99 <= 10*time.Second),
		minuteRow("active → callback max", sec(Percentile(nw.lat, 100)), sec(Percentile(np.lat, 100)), "s", ""),
		minuteRow("active callbacks", float64(nw.active), float64(np.active), "pools",
			fmt.Sprintf("%d and %d duplicate deliveries", nw.dups, np.dups)).check(fmt.Sprintf("= %d", n), nw.active == n && np.active == n),
		minuteRow("longest poller invocation", sec(nw.maxPollerRun), sec(np.maxPollerRun), "s", "timer period "+r.cfg.MinutePeriod.String()).
			check("< period (no overlap)", nw.maxPollerRun < r.cfg.MinutePeriod),
		minuteRow("Describe calls per pool-hour", describe(nw), describe(np), "calls",
			fmt.Sprintf("%d and %d calls over %.2f and %.2f pool-hours in flight (worker's adopt checks included)",
				nw.ensCalls["DescribeClusterNodePools"], np.ensCalls["DescribeClusterNodePools"], nw.poolHours, np.poolHours)),
	}
	// At 10,000 pools in 20 clusters one pass reads 200 pages (the polling
	// section measures it); the deployed design makes a pass every
	// POLL_MAX, the previous one every timer period.
	pass := 200.0
	watchRate, passRate := pass/config.DefaultPollMax.Seconds(), pass/60
	return append(rows, minuteRow("10,000 pools / 20 clusters: Describe calls/s", watchRate, passRate, "/s",
		fmt.Sprintf("200 pages per pass every POLL_MAX (%v) vs every 60 s", config.DefaultPollMax)).
		check("≤ 100/s (ENS limit)", watchRate <= 100))
}

// minuteCostRows are the rows of cost per 1,000 pools: function time and
// invocations, MNS requests, ENS calls, and the assumed price of it all.
func (r *run) minuteCostRows(nw, np designResult) []Row {
	per1000 := 1000 / float64(r.cfg.MinutePools)
	cost := func(x designResult) (gbs, inv, mnsReq, ens float64) {
		for _, fn := range []string{localstack.FuncWorker, localstack.FuncPoller} {
			gbs += x.seconds[fn] * functionMemoryGB
			inv += float64(x.invocations[fn])
		}
		for _, v := range x.mnsRequests {
			mnsReq += float64(v)
		}
		for _, v := range x.ensCalls {
			ens += float64(v)
		}
		return gbs * per1000, inv * per1000, mnsReq * per1000, ens * per1000
	}
	wg1, wi, wm, we := cost(nw)
	pg, pi, pm, pe := cost(np)
	var rows []Row
	for _, fn := range []string{localstack.FuncWorker, localstack.FuncPoller} {
		rows = append(rows,
			minuteRow("per 1,000 pools: "+fn+" GB-s", nw.seconds[fn]*functionMemoryGB*per1000, np.seconds[fn]*functionMemoryGB*per1000, "GB-s",
				fmt.Sprintf("%.0f and %.0f s of function time at 128 MB", nw.seconds[fn]*per1000, np.seconds[fn]*per1000)),
			minuteRow("per 1,000 pools: "+fn+" invocations", float64(nw.invocations[fn])*per1000, float64(np.invocations[fn])*per1000, "", ""))
	}
	return append(rows,
		minuteRow("per 1,000 pools: MNS requests", wm, pm, "", mnsNote(nw.mnsRequests, per1000)),
		minuteRow("per 1,000 pools: ENS calls", we, pe, "", fmt.Sprintf("%.0f creates, %.0f describes (deployed)",
			float64(nw.ensCalls["CreateClusterNodePool"])*per1000, float64(nw.ensCalls["DescribeClusterNodePools"])*per1000)),
		minuteRow("per 1,000 pools: assumed US cents", 100*(wg1*priceGBs+wi*priceInvocation+wm*priceMNSRequest),
			100*(pg*priceGBs+pi*priceInvocation+pm*priceMNSRequest), "cents",
			fmt.Sprintf("assumed prices: %.7f USD/GB-s, %.2f USD per million invocations, %.2f USD per million MNS requests; ENS API calls free",
				priceGBs, priceInvocation*1e6, priceMNSRequest*1e6)),
	)
}

func mnsNote(m map[string]int64, per1000 float64) string {
	var parts []string
	for _, k := range []string{"send", "receive", "visibility", "delete", "other"} {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %.0f", k, float64(m[k])*per1000))
		}
	}
	return "deployed: " + strings.Join(parts, ", ")
}

// minutePollerTimeout is the poller's timeout in the minute section: 58 s
// of a 60 s period, as in s.yaml.
func (r *run) minutePollerTimeout() time.Duration { return r.cfg.MinutePeriod * 58 / 60 }

// minuteRun runs one design: its own counting MNS service and local
// stack, MinutePools requests, and every pool's active callback.
func (r *run) minuteRun(ctx context.Context, d design) (designResult, error) {
	res := &designResult{invocations: map[string]int{}, seconds: map[string]float64{}}
	n := r.cfg.MinutePools
	cm, mnsAddr, stopMNS, err := startCountingMNS(filepath.Join(r.workDir, "minute-"+d.name, "mns"))
	if err != nil {
		return *res, err
	}
	defer stopMNS()
	var mu sync.Mutex // guards res while the stack runs
	cfg := r.minuteStackConfig(d, mnsAddr, func(fn string, took time.Duration, _ error) {
		mu.Lock()
		defer mu.Unlock()
		res.invocations[fn]++
		res.seconds[fn] += took.Seconds()
		if fn == localstack.FuncPoller && took > res.maxPollerRun {
			res.maxPollerRun = took
		}
	})
	r.progress("minute (%s): starting the local stack (timer %v, provisioning %v + up to %v)", d.name, r.cfg.MinutePeriod,
		r.cfg.MinuteProvision, r.cfg.MinuteSpread)
	st, err := localstack.Start(ctx, cfg)
	if err != nil {
		return *res, err
	}
	defer st.Close()
	if err := st.ENS().SetProvisionSpread(r.cfg.MinuteSpread); err != nil {
		return *res, err
	}
	rcv, err := localstack.NewReceiver(localstack.ReceiverConfig{Secrets: []string{r.callbackSecret}})
	if err != nil {
		return *res, err
	}
	defer rcv.Close()
	watch, stop := watchPools(ctx, st.ENS(), n)
	defer stop()
	r.progress("minute (%s): submitting %d requests", d.name, n)
	if err := r.submit(ctx, "minute", n, st.URL(), rcv.URL()); err != nil {
		return *res, err
	}
	// The callbacks' fields of res are written here only; the
	// invocations' ones under mu.
	if err := r.minuteCallbacks(ctx, d, rcv, watch, res); err != nil {
		return *res, err
	}
	mu.Lock()
	defer mu.Unlock()
	res.ensCalls = st.ENS().Stats().Calls
	res.mnsRequests = cm.counts()
	return *res, nil
}

// startCountingMNS serves an MNS simulator on dir behind a request counter
// on a free loopback port; stop shuts both down.
func startCountingMNS(dir string) (cm *countingMNS, addr string, stop func(), err error) {
	sim, err := mnssim.New(mnssim.Config{AccessKeyID: localstack.DevAccessKeyID, AccessKeySecret: localstack.DevAccessKeySecret, Dir: dir})
	if err != nil {
		return nil, "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		sim.Close()
		return nil, "", nil, err
	}
	cm = &countingMNS{sim: sim, n: map[string]int64{}}
	hs := &http.Server{Handler: cm, ReadHeaderTimeout: 10 * time.Second}
	hs.RegisterOnShutdown(sim.CancelPolls)
	go func() { _ = hs.Serve(ln) }()
	return cm, ln.Addr().String(), func() { hs.Close(); sim.Close() }, nil
}

// minuteStackConfig is the stack of one design: the MinutePeriod timer,
// the poller's timeout under it, the design's settings, the MNS service at
// mnsAddr, and onInvocation told of every worker and poller invocation.
func (r *run) minuteStackConfig(d design, mnsAddr string, onInvocation func(string, time.Duration, error)) localstack.Config {
	cfg := r.stackConfig("minute-" + d.name + "/stack")
	cfg.MNSEndpoint = "http://" + mnsAddr
	cfg.PollInterval, cfg.PollerTimeout = r.cfg.MinutePeriod, r.minutePollerTimeout()
	cfg.ENSProvision = r.cfg.MinuteProvision
	cfg.PoolDeadline = 2 * (r.cfg.MinuteProvision + r.cfg.MinuteSpread + r.cfg.MinutePeriod)
	cfg.Env = d.env
	cfg.OnInvocation = onInvocation
	return cfg
}

// minuteCallbacks reads callbacks until every pool has its terminal one,
// recording in res each active one's latency and the pool-hours in flight.
func (r *run) minuteCallbacks(ctx context.Context, d design, rcv *localstack.Receiver, watch *poolWatch, res *designResult) error {
	n := r.cfg.MinutePools
	wait, cancel := context.WithTimeout(ctx, r.cfg.MinuteProvision+r.cfg.MinuteSpread+time.Duration(n/10)*time.Second+4*r.cfg.MinutePeriod)
	defer cancel()
	done := map[string]bool{}
	for len(done) < n {
		c, err := rcv.Next(wait)
		if err != nil {
			return fmt.Errorf("%w: minute (%s): %d of %d pools reported: %w", ErrRun, d.name, len(done), n, err)
		}
		id := c.Event.Data.NodepoolId
		switch {
		case c.Duplicate:
			res.dups++
		case c.Event.Type == callback.TypeActive:
			at, ok := watch.activeAt(id)
			seen, _ := watch.seenAt(id)
			if !ok {
				return fmt.Errorf("%w: minute: active callback for %s before the pool was seen active", ErrRun, id)
			}
			done[id] = true
			res.active++
			res.lat = append(res.lat, c.At.Sub(at))
			res.poolHours += c.At.Sub(seen).Hours()
		case c.Event.Type != callback.TypeCreating:
			done[id] = true
			r.progress("minute (%s): %s for %s: %+v", d.name, c.Event.Type, c.Event.Data.Name, c.Event.Data.Error)
		}
	}
	return nil
}
