package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/dev/localstack"
	"github.com/ensnodepool/webhook/pkg/ens"
	"github.com/ensnodepool/webhook/pkg/fcapp"
	"github.com/ensnodepool/webhook/pkg/intake"
	"github.com/ensnodepool/webhook/pkg/mns"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// intakeQueue is where the intake section's requests go: a queue no
// trigger reads, so the worker does not compete for the CPU.
const intakeQueue = "bench-intake"

// loadResult is one load run.
type loadResult struct {
	lat  []time.Duration
	took time.Duration
}

func (l loadResult) rate() float64 { return float64(len(l.lat)) / l.took.Seconds() }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// load runs do(i) for i in [0, n) from c goroutines and records each
// call's latency; the first error stops it.
func load(ctx context.Context, c, n int, do func(ctx context.Context, i int) error) (loadResult, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range c {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				t0 := time.Now()
				if err := do(ctx, i); err != nil {
					cancel(err)
					return
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	res := loadResult{lat: lat, took: time.Since(start)}
	if err := context.Cause(ctx); err != nil {
		return res, err
	}
	return res, nil
}

// submitter POSTs signed create requests to a webhook base URL.
type submitter struct {
	hc     *http.Client
	secret string
	bodies [][]byte
}

func (s submitter) post(base string) func(ctx context.Context, i int) error {
	return func(ctx context.Context, i int) error {
		status, resp, err := localstack.PostCreate(ctx, s.hc, base, s.secret, "", s.bodies[i%len(s.bodies)])
		if err != nil {
			return fmt.Errorf("%w: POST %s: %w", ErrRun, base, err)
		}
		if status != http.StatusAccepted {
			return fmt.Errorf("%w: POST %s: %d %s", ErrRun, base, status, resp)
		}
		return nil
	}
}

// bodies returns n create requests named prefix-<i> with callbackURL.
func (r *run) bodies(prefix string, n int, callbackURL string) ([][]byte, error) {
	out := make([][]byte, n)
	for i := range out {
		b, err := localstack.Request(r.cfg.Template, fmt.Sprintf("%s-%04d", prefix, i), callbackURL)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

// submit POSTs n create requests named prefix-<i> with callbackURL to the
// webhook at webhookURL, 8 at a time, each answered 202.
func (r *run) submit(ctx context.Context, prefix string, n int, webhookURL, callbackURL string) error {
	bodies, err := r.bodies(prefix, n, callbackURL)
	if err != nil {
		return err
	}
	hc := newHTTPClient()
	defer hc.CloseIdleConnections()
	_, err = load(ctx, 8, n, submitter{hc: hc, secret: r.webhookSecret, bodies: bodies}.post(webhookURL))
	return err
}

func newHTTPClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: 30 * time.Second}}
}

// intake measures signed POST /v1/nodepools through the stack's HTTP
// trigger (runtime → webhook binary → MNS) and through the same handler
// (pkg/intake) served by a plain net/http server in this process, both
// sending to the same queue of the same MNS service.
func (r *run) intake(ctx context.Context) (Section, error) {
	sec := Section{Name: SectionIntake}
	cfg := r.stackConfig("intake")
	cfg.PollInterval = time.Hour // no poller ticks while measuring
	cfg.Env = map[string]string{config.EnvRequestsQueue: intakeQueue}
	r.progress("intake: starting the local stack")
	st, err := localstack.Start(ctx, cfg)
	if err != nil {
		return sec, err
	}
	defer st.Close()
	qc, err := mns.New(mns.Config{Endpoint: "http://" + st.Addrs().MNS,
		Credentials: mns.Credentials{AccessKeyID: cfg.AccessKeyID, AccessKeySecret: cfg.AccessKeySecret}})
	if err != nil {
		return sec, err
	}
	if err := qc.EnsureQueue(ctx, intakeQueue, mns.QueueAttributes{VisibilityTimeout: 30 * time.Second}); err != nil {
		return sec, err
	}
	h, err := r.intakeHandler(st, qc.Queue(intakeQueue))
	if err != nil {
		return sec, err
	}
	direct := httptest.NewServer(h)
	defer direct.Close()

	hc := newHTTPClient()
	defer hc.CloseIdleConnections()
	n := r.cfg.IntakeRequests
	bodies, err := r.bodies("intake", n, "http://127.0.0.1:9/callback")
	if err != nil {
		return sec, err
	}
	sub := submitter{hc: hc, secret: r.webhookSecret, bodies: bodies}
	paths := []intakePath{{"via HTTP trigger", st.URL()}, {"in-process handler", direct.URL}}
	// Warm up both paths (connections, instances, caches).
	for _, p := range paths {
		if _, err := load(ctx, 4, 40, sub.post(p.url)); err != nil {
			return sec, err
		}
	}
	for _, c := range r.cfg.Concurrency {
		rows, err := r.intakeLevel(ctx, c, n, sub, paths)
		if err != nil {
			return sec, err
		}
		sec.Rows = append(sec.Rows, rows...)
	}
	r.recordRSS(st)
	sec.Setup = fmt.Sprintf("%d signed POST /v1/nodepools per level and path (sample request, fresh webhook-id each), after 40 warm-up requests; "+
		"'via HTTP trigger' = local stack: HTTP trigger → FC runtime API → webhook binary (%d instances) → MNS simulator; "+
		"'in-process handler' = the same pkg/intake handler behind a plain net/http server in the bench process, sending to the same queue; "+
		"the ratio is the local FC runtime's overhead", n, st.Config().WebhookInstances)
	return sec, nil
}

// intakePath is one way to the intake handler, by its webhook base URL.
type intakePath struct{ name, url string }

// intakeLevel sends n requests c at a time along each path and returns a
// row per path and the row of their ratio (the first path's overhead).
func (r *run) intakeLevel(ctx context.Context, c, n int, sub submitter, paths []intakePath) ([]Row, error) {
	var rows []Row
	var res [2]loadResult
	for i, p := range paths {
		r.progress("intake: c=%d %s, %d requests", c, p.name, n)
		var err error
		if res[i], err = load(ctx, c, n, sub.post(p.url)); err != nil {
			return nil, err
		}
		p50, p99 := Percentile(res[i].lat, 50), Percentile(res[i].lat, 99)
		rows = append(rows, Row{Metric: fmt.Sprintf("c=%d %s", c, p.name), Value: res[i].rate(), Unit: "req/s",
			Note:  fmt.Sprintf("p50 %.2f ms, p99 %.2f ms", ms(p50), ms(p99)),
			Extra: map[string]float64{"p50_ms": ms(p50), "p99_ms": ms(p99), "requests": float64(n)}})
	}
	p50r := ms(Percentile(res[0].lat, 50)) / ms(Percentile(res[1].lat, 50))
	p99r := ms(Percentile(res[0].lat, 99)) / ms(Percentile(res[1].lat, 99))
	tr := res[1].rate() / res[0].rate()
	return append(rows, Row{Metric: fmt.Sprintf("c=%d runtime overhead (p50 ratio)", c), Value: p50r, Unit: "×",
		Note:  fmt.Sprintf("p99 ratio %.2f×, throughput ratio %.2f×", p99r, tr),
		Extra: map[string]float64{"p50_ratio": p50r, "p99_ratio": p99r, "throughput_ratio": tr}}), nil
}

// intakeHandler wires pkg/intake as functions/webhook does, to q.
func (r *run) intakeHandler(st *localstack.Stack, q *mns.Queue) (*intake.Handler, error) {
	keys, err := nodepool.ParseKeys(localstack.DevSealKeys)
	if err != nil {
		return nil, err
	}
	sealer, err := nodepool.NewSealer(keys)
	if err != nil {
		return nil, err
	}
	e, err := ens.New(ens.Config{Endpoint: st.Addrs().ENS, Protocol: "HTTP",
		Credentials: ens.Credentials{AccessKeyID: localstack.DevAccessKeyID, AccessKeySecret: localstack.DevAccessKeySecret}})
	if err != nil {
		return nil, err
	}
	return intake.New(intake.Config{Secrets: []string{r.webhookSecret}, Sealer: sealer, Pools: e,
		Validator:     nodepool.NewValidator(nodepool.ValidationConfig{AllowHTTPCallback: true, CallbackAllow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}),
		StatusURLBase: st.URL(),
		Queue:         fcapp.RequestsSender(q)})
}
