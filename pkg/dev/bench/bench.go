package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/dev/localstack"
)

// ErrConfig reports an invalid Config.
var ErrConfig = errors.New("bench: invalid configuration")

// ErrRun reports a run that could not measure a section (a request was
// refused, pools did not appear in time, …).
var ErrRun = errors.New("bench: run failed")

// Config sizes a Run. Zero values take the defaults of the full run, or of
// the quick run when Quick is set.
type Config struct {
	// Quick selects the CI smoke sizes: one concurrency level, fewer
	// requests and pools, short provisioning.
	Quick bool

	// ModuleDir is the module root (binaries are built from it and the
	// request template read from it); default the directory of `go env GOMOD`.
	ModuleDir string
	// BinDir holds prebuilt webhook, worker and poller binaries; empty:
	// they are built into WorkDir/bin.
	BinDir string
	// WorkDir holds the stacks' data; empty: a temporary directory that is
	// removed afterwards.
	WorkDir string
	// Template is the create request; default
	// ModuleDir/events/create-nodepool.json.
	Template []byte

	// Concurrency are the intake's client concurrency levels; default
	// 1, 8, 64 (quick: 8).
	Concurrency []int
	// IntakeRequests is the number of requests per level and path; default
	// 1000 (quick 200).
	IntakeRequests int
	// Creates is the number of queued requests of the creation section
	// and of its naive baseline; default 200 (quick 40).
	Creates int
	// PollSizes are the tracked pool counts of the polling section;
	// default 1,000 and 10,000 (quick 1,000).
	PollSizes []int
	// PollClusters spreads the tracked pools evenly; default 20.
	PollClusters int
	// PollInterval is the poller's timer period in the end-to-end stack;
	// default 2s. Provision is the simulated provisioning time; default
	// 2 × PollInterval, the ratio of the local stack's defaults (10s, 20s).
	PollInterval, Provision time.Duration
	// NaiveConcurrency is how many creates the naive baseline keeps in
	// flight (one trigger batch fired at once); default 16.
	NaiveConcurrency int
	// MinutePools, MinutePeriod, MinuteProvision and MinuteSpread size the
	// minute section: requests per design, the timer period, and the
	// simulated provisioning time plus the most a pool adds to it; defaults
	// 500, 60 s, 60 s, 4 min (quick: 30, 6 s, 2 s, 10 s).
	MinutePools                                 int
	MinutePeriod, MinuteProvision, MinuteSpread time.Duration

	// Progress receives one line per step; nil discards.
	Progress io.Writer
	// FunctionOutput receives the function binaries' logs; nil discards.
	FunctionOutput io.Writer
}

func (c Config) withDefaults() Config {
	def := func(v *int, full, quick int) {
		if *v == 0 {
			*v = full
			if c.Quick {
				*v = quick
			}
		}
	}
	if len(c.Concurrency) == 0 {
		c.Concurrency = []int{1, 8, 64}
		if c.Quick {
			c.Concurrency = []int{8}
		}
	}
	if len(c.PollSizes) == 0 {
		c.PollSizes = []int{1000, 10000}
		if c.Quick {
			c.PollSizes = []int{1000}
		}
	}
	c.PollSizes = slices.Sorted(slices.Values(c.PollSizes))
	def(&c.IntakeRequests, 1000, 200)
	def(&c.Creates, 200, 40)
	def(&c.PollClusters, 20, 20)
	def(&c.NaiveConcurrency, 16, 16)
	def(&c.MinutePools, 500, 30)
	dur := func(v *time.Duration, full, quick time.Duration) {
		if *v == 0 {
			*v = full
			if c.Quick {
				*v = quick
			}
		}
	}
	dur(&c.MinutePeriod, time.Minute, 6*time.Second)
	dur(&c.MinuteProvision, time.Minute, 2*time.Second)
	dur(&c.MinuteSpread, 4*time.Minute, 10*time.Second)
	if c.PollInterval == 0 {
		c.PollInterval = 2 * time.Second
	}
	if c.Provision == 0 {
		c.Provision = 2 * c.PollInterval
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.FunctionOutput == nil {
		c.FunctionOutput = io.Discard
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	for _, n := range c.Concurrency {
		if n < 1 {
			errs = append(errs, fmt.Errorf("Concurrency %d: want ≥ 1", n))
		}
	}
	for _, n := range c.PollSizes {
		if n < c.PollClusters {
			errs = append(errs, fmt.Errorf("PollSizes %d: want ≥ PollClusters (%d)", n, c.PollClusters))
		}
	}
	if c.IntakeRequests < 1 || c.Creates < 2 || c.PollClusters < 1 || c.NaiveConcurrency < 1 {
		errs = append(errs, errors.New("IntakeRequests, PollClusters and NaiveConcurrency must be ≥ 1, Creates ≥ 2"))
	}
	if c.MinutePools < 1 || c.MinutePeriod <= 0 || c.MinuteProvision < 0 || c.MinuteSpread < 0 {
		errs = append(errs, errors.New("MinutePools and MinutePeriod must be positive, MinuteProvision and MinuteSpread not negative"))
	}
	if c.PollInterval < 0 || c.Provision < 0 {
		errs = append(errs, errors.New("PollInterval and Provision must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

// run is one Run's shared state.
type run struct {
	cfg            Config
	binDir         string
	workDir        string
	webhookSecret  string
	callbackSecret string
	// rss is the peak VmHWM per function over every stack of the run, and
	// the processes it was read from.
	rss map[string]peak
	// progressMu serialises progress lines: sections may run stacks side
	// by side.
	progressMu sync.Mutex
}

type peak struct {
	bytes     int64
	processes int
}

// Run measures every section and returns the report. It starts and stops
// its own stacks and simulators, all on loopback; ctx bounds the whole run.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	rep := &Report{Mode: "full", Machine: ThisMachine(), Started: time.Now()}
	if cfg.Quick {
		rep.Mode = "quick"
	}
	r := &run{cfg: cfg, rss: map[string]peak{}}
	var err error
	if cfg.ModuleDir == "" {
		if cfg.ModuleDir, err = localstack.ModuleRoot(ctx, "."); err != nil {
			return nil, err
		}
		r.cfg.ModuleDir = cfg.ModuleDir
	}
	if cfg.Template == nil {
		if r.cfg.Template, err = os.ReadFile(filepath.Join(cfg.ModuleDir, "events", "create-nodepool.json")); err != nil {
			return nil, fmt.Errorf("%w: request template: %w", ErrConfig, err)
		}
	}
	r.workDir = cfg.WorkDir
	if r.workDir == "" {
		if r.workDir, err = os.MkdirTemp("", "bench-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(r.workDir)
	}
	if r.webhookSecret, err = callback.NewSecret(); err != nil {
		return nil, err
	}
	if r.callbackSecret, err = callback.NewSecret(); err != nil {
		return nil, err
	}
	r.binDir = cfg.BinDir
	if r.binDir == "" {
		r.progress("building the function binaries")
		r.binDir = filepath.Join(r.workDir, "bin")
		if _, err := localstack.Build(ctx, localstack.BuildOptions{ModuleDir: cfg.ModuleDir, OutDir: r.binDir}); err != nil {
			return nil, err
		}
	}

	intake, err := r.intake(ctx)
	if err != nil {
		return nil, err
	}
	creation, e2e, err := r.creation(ctx)
	if err != nil {
		return nil, err
	}
	polling, err := r.polling(ctx)
	if err != nil {
		return nil, err
	}
	minute, err := r.minute(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range []Section{intake, creation, polling, e2e, minute, r.memory()} {
		rep.add(s)
	}
	rep.Took = time.Since(rep.Started).Seconds()
	return rep, nil
}

func (r *run) progress(format string, args ...any) {
	r.progressMu.Lock()
	defer r.progressMu.Unlock()
	fmt.Fprintf(r.cfg.Progress, "bench: "+format+"\n", args...)
}

// stackConfig is a local stack on free ports under WorkDir/name with the
// run's binaries and secrets.
func (r *run) stackConfig(name string) localstack.Config {
	return localstack.Config{
		HTTPAddr: "127.0.0.1:0", MNSAddr: "127.0.0.1:0", ENSAddr: "127.0.0.1:0",
		DataDir: filepath.Join(r.workDir, name), BinDir: r.binDir,
		PollInterval: r.cfg.PollInterval, ENSProvision: r.cfg.Provision,
		WebhookSecrets: []string{r.webhookSecret}, CallbackSecrets: []string{r.callbackSecret},
		AccessKeyID: localstack.DevAccessKeyID, AccessKeySecret: localstack.DevAccessKeySecret,
		SealKeys: localstack.DevSealKeys, LogLevel: "warn", Output: r.cfg.FunctionOutput,
		StopGrace: 5 * time.Second,
	}
}

// recordRSS reads the peak RSS of every function instance of st.
func (r *run) recordRSS(st *localstack.Stack) {
	for _, fn := range []string{localstack.FuncWebhook, localstack.FuncWorker, localstack.FuncPoller} {
		p := r.rss[fn]
		for _, in := range st.Runtime().Instances(fn) {
			if in.PID <= 0 {
				continue
			}
			if b, err := PeakRSS(in.PID); err == nil {
				p.bytes = max(p.bytes, b)
				p.processes++
			}
		}
		r.rss[fn] = p
	}
}

// memory is the memory section from the recorded peaks.
func (r *run) memory() Section {
	const limit = 64 << 20 // half of FC's 128 MiB minimum
	s := Section{Name: SectionMemory, Setup: "peak RSS (VmHWM from /proc/<pid>/status) of each function binary, " +
		"the largest over its instances in the intake stack and the creation/end-to-end stack, read just before each stack stopped"}
	for _, fn := range []string{localstack.FuncWebhook, localstack.FuncWorker, localstack.FuncPoller} {
		p := r.rss[fn]
		mib := float64(p.bytes) / (1 << 20)
		s.Rows = append(s.Rows, Row{Metric: fn + " peak RSS", Value: mib, Unit: "MiB",
			Note: fmt.Sprintf("%d processes read", p.processes)}.check("≤ 64 MiB", p.processes > 0 && p.bytes <= limit))
	}
	return s
}
