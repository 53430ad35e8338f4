package localstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/dev/enssim"
	"github.com/ensnodepool/webhook/pkg/dev/fclocal"
	"github.com/ensnodepool/webhook/pkg/dev/kmssim"
	"github.com/ensnodepool/webhook/pkg/dev/mnssim"
	"github.com/ensnodepool/webhook/pkg/mns"
	"github.com/ensnodepool/webhook/pkg/queues"
)

// Addrs are the stack's endpoints as they listen.
type Addrs struct {
	// HTTP is the webhook's HTTP trigger (host:port).
	HTTP string
	// MNS is the queue endpoint the functions use: the simulator's
	// host:port, or the configured real endpoint.
	MNS string
	// ENS is the ENS endpoint the functions use: the simulator's host:port
	// (admin API under /_emulator/), or the configured real endpoint.
	ENS string
	// KMS is the KMS simulator's host:port with Config.SecretsInKMS, else
	// empty.
	KMS string
}

// Stack is a running local stack. Close it to stop everything.
type Stack struct {
	cfg      Config
	log      *slog.Logger
	addrs    Addrs
	binaries map[string]string

	mns     *mnssim.Server // nil with a real MNS endpoint
	ens     *enssim.Server // nil with a real ENS endpoint
	kms     *kmssim.Server // nil unless SecretsInKMS
	servers []*http.Server
	webhook *http.Server // the HTTP trigger's server (also in servers)
	rt      *fclocal.Runtime
	queues  *mns.Client

	cancel    context.CancelFunc // stops the triggers
	triggers  sync.WaitGroup
	serving   sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Start builds the function binaries unless cfg.BinDir has them, starts the
// simulators (unless real endpoints are configured), creates the queues,
// starts the function instances and the triggers, and returns once the
// webhook accepts requests. ctx bounds the start only; Close stops the
// stack. On error everything started is stopped again.
func Start(ctx context.Context, cfg Config) (_ *Stack, err error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Stack{cfg: cfg, log: cfg.Logger}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, err
	}
	if err := s.binariesReady(ctx); err != nil {
		return nil, err
	}
	// Listen on the webhook address first: PUBLIC_URL needs the port.
	httpLn, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("localstack: http listener: %w", err)
	}
	s.addrs.HTTP = httpLn.Addr().String()
	defer func() {
		if err != nil {
			httpLn.Close()
		}
	}()
	mnsEndpoint, err := s.startMNS()
	if err != nil {
		return nil, err
	}
	if err := s.startENS(); err != nil {
		return nil, err
	}
	if err := s.startKMS(); err != nil {
		return nil, err
	}
	if err := s.ensureQueues(ctx, mnsEndpoint); err != nil {
		return nil, err
	}
	if err := s.startRuntime(ctx); err != nil {
		return nil, err
	}
	trigger := s.rt.HTTPTrigger(FuncWebhook)
	if cfg.Check != nil {
		trigger = cfg.Check.Handler(trigger)
	}
	s.webhook = &http.Server{Handler: trigger, ReadHeaderTimeout: 10 * time.Second}
	s.serve(s.webhook, httpLn)
	if err := s.startTriggers(); err != nil {
		return nil, err
	}
	s.log.Info("localstack: ready", slog.String("http", s.addrs.HTTP), slog.String("mns", s.addrs.MNS), slog.String("ens", s.addrs.ENS))
	return s, nil
}

// binariesReady builds the functions into DataDir/bin unless BinDir is set.
func (s *Stack) binariesReady(ctx context.Context) error {
	s.binaries = map[string]string{}
	if s.cfg.BinDir != "" {
		for n := range s.cfg.Packages {
			s.binaries[n] = filepath.Join(s.cfg.BinDir, n)
		}
		return nil
	}
	start := time.Now()
	bins, err := Build(ctx, BuildOptions{ModuleDir: s.cfg.ModuleDir, OutDir: filepath.Join(s.cfg.DataDir, "bin"), Packages: s.cfg.Packages})
	if err != nil {
		return err
	}
	s.log.Info("localstack: functions built", slog.Duration("took", time.Since(start)))
	s.binaries = bins
	return nil
}

// serve runs hs on ln until Close.
func (s *Stack) serve(hs *http.Server, ln net.Listener) {
	s.servers = append(s.servers, hs)
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("localstack: server stopped", slog.String("addr", ln.Addr().String()), slog.Any("error", err))
		}
	}()
}

// startMNS starts the queue simulator unless a real endpoint is set, and
// returns the endpoint URL the clients use.
func (s *Stack) startMNS() (string, error) {
	if s.cfg.MNSEndpoint != "" {
		s.addrs.MNS = s.cfg.MNSEndpoint
		return s.cfg.MNSEndpoint, nil
	}
	srv, err := mnssim.New(mnssim.Config{AccessKeyID: s.cfg.AccessKeyID, AccessKeySecret: s.cfg.AccessKeySecret,
		Dir: filepath.Join(s.cfg.DataDir, "mns"), Logger: s.log.With(slog.String("component", "mnssim"))})
	if err != nil {
		return "", fmt.Errorf("localstack: mnssim: %w", err)
	}
	s.mns = srv
	ln, err := net.Listen("tcp", s.cfg.MNSAddr)
	if err != nil {
		return "", fmt.Errorf("localstack: mns listener: %w", err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	hs.RegisterOnShutdown(srv.CancelPolls)
	s.serve(hs, ln)
	s.addrs.MNS = ln.Addr().String()
	return "http://" + s.addrs.MNS, nil
}

// startENS starts the ENS simulator unless a real endpoint is set.
func (s *Stack) startENS() error {
	if s.cfg.ENSEndpoint != "" {
		s.addrs.ENS = s.cfg.ENSEndpoint
		return nil
	}
	srv, err := enssim.New(enssim.Config{AccessKeyID: s.cfg.AccessKeyID, AccessKeySecret: s.cfg.AccessKeySecret,
		Dir: filepath.Join(s.cfg.DataDir, "ens"), ProvisionTime: s.cfg.ENSProvision, Clusters: s.cfg.Clusters,
		Logger: s.log.With(slog.String("component", "enssim"))})
	if err != nil {
		return fmt.Errorf("localstack: enssim: %w", err)
	}
	s.ens = srv
	// A stored provisioning time (from an earlier run or the admin API)
	// would win over the flag; the flag is what the user asked for now.
	if err := srv.SetProvisionTime(s.cfg.ENSProvision); err != nil {
		return fmt.Errorf("localstack: enssim: %w", err)
	}
	ln, err := net.Listen("tcp", s.cfg.ENSAddr)
	if err != nil {
		return fmt.Errorf("localstack: ens listener: %w", err)
	}
	s.serve(&http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}, ln)
	s.addrs.ENS = ln.Addr().String()
	return nil
}

// startKMS starts the KMS simulator when the secrets are to live there.
func (s *Stack) startKMS() error {
	if !s.cfg.SecretsInKMS {
		return nil
	}
	srv, err := kmssim.New(kmssim.Config{AccessKeyID: s.cfg.AccessKeyID, AccessKeySecret: s.cfg.AccessKeySecret,
		Logger: s.log.With(slog.String("component", "kmssim"))})
	if err != nil {
		return fmt.Errorf("localstack: kmssim: %w", err)
	}
	ln, err := net.Listen("tcp", s.cfg.KMSAddr)
	if err != nil {
		return fmt.Errorf("localstack: kms listener: %w", err)
	}
	s.kms = srv
	s.serve(&http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}, ln)
	s.addrs.KMS = ln.Addr().String()
	return nil
}

// moveSecretsToKMS stores every secret setting of e in the KMS simulator
// and replaces its value with the reference "kms:<name>".
func (s *Stack) moveSecretsToKMS(e map[string]string) {
	for _, k := range config.SecretSettings() {
		v := e[k]
		if v == "" || strings.HasPrefix(v, config.SecretPrefix) {
			continue
		}
		name := "ens-nodepool/" + strings.ToLower(k)
		s.kms.PutSecret(name, v)
		e[k] = config.SecretPrefix + name
	}
	e[config.EnvKMSEndpoint] = s.addrs.KMS
	e[config.EnvKMSProtocol] = "HTTP"
}

// HeldVisibility is how long a message the worker's trigger or the poller
// holds stays hidden after its holder stopped extending it (crashed):
// both extend it every third of it (heartbeats).
const HeldVisibility = queues.HeldVisibility

// ensureQueues creates the queues from the product's spec (pkg/queues, as
// scripts/queues does in the cloud), with visibility timeouts derived from
// this stack's function timeouts. Queues that exist keep their attributes
// (a test may have prepared them); differences are logged.
func (s *Stack) ensureQueues(ctx context.Context, endpoint string) error {
	c, err := mns.New(mns.Config{Endpoint: endpoint, Logger: s.log,
		Credentials: mns.Credentials{AccessKeyID: s.cfg.AccessKeyID, AccessKeySecret: s.cfg.AccessKeySecret}})
	if err != nil {
		return fmt.Errorf("localstack: queue client: %w", err)
	}
	s.queues = c
	specs := queues.Specs(queues.Names{Requests: s.cfg.RequestsQueue, Tracking: s.cfg.TrackingQueue, DeadLetter: s.cfg.DeadLetterQueue,
		TriggerDeadLetter: s.cfg.TriggerDeadLetterQueue}, queues.Timeouts{Worker: s.cfg.WorkerTimeout, Poller: s.cfg.PollerTimeout})
	_, drifts, err := queues.Create(ctx, c, specs)
	if err != nil {
		return fmt.Errorf("localstack: %w", err)
	}
	for _, d := range drifts {
		s.log.Info("localstack: existing queue differs from the spec", slog.String("drift", d.String()))
	}
	return nil
}

// env is the environment every function gets (Config.FunctionEnv), with
// the secret settings moved into the KMS simulator when it runs.
func (s *Stack) env() map[string]string {
	e := s.cfg.FunctionEnv(s.addrs)
	if s.kms != nil {
		s.moveSecretsToKMS(e)
	}
	return e
}

// FunctionEnv is the environment every function gets when the stack
// listens on a: the variables of pkg/config, as s.yaml sets them in the
// cloud, pointed at the local endpoints (or the real ones configured),
// with local-only callback rules, then Env on top.
func (c Config) FunctionEnv(a Addrs) map[string]string {
	c = c.withDefaults()
	mnsEndpoint := c.MNSEndpoint
	if mnsEndpoint == "" {
		mnsEndpoint = "http://" + a.MNS
	}
	ensEndpoint, proto := c.ENSEndpoint, c.ENSProtocol
	if ensEndpoint == "" {
		ensEndpoint, proto = a.ENS, "HTTP"
	}
	e := map[string]string{
		config.EnvMNSEndpoint:        mnsEndpoint,
		config.EnvRequestsQueue:      c.RequestsQueue,
		config.EnvTrackingQueue:      c.TrackingQueue,
		config.EnvDeadLetterQueue:    c.DeadLetterQueue,
		config.EnvENSEndpoint:        ensEndpoint,
		config.EnvENSProtocol:        proto,
		config.EnvENSRegion:          c.Region,
		config.EnvWebhookSecret:      strings.Join(c.WebhookSecrets, ","),
		config.EnvCallers:            c.Callers,
		config.EnvCallbackSecret:     strings.Join(c.CallbackSecrets, ","),
		config.EnvSealKeys:           c.SealKeys,
		config.EnvCallbackAllowHTTP:  "true",
		config.EnvCallbackAllowCIDRs: "127.0.0.0/8,::1/128",
		config.EnvPublicURL:          "http://" + a.HTTP,
		config.EnvLogLevel:           c.LogLevel,
	}
	if c.PoolDeadline > 0 {
		e[config.EnvPoolDeadline] = c.PoolDeadline.String()
	}
	// As deployed: check pools in flight every few seconds (at most three
	// quarters of a timer period when the period is short), and watch them
	// for 11/12 of each period (55 s of a minute) within the invocation.
	most := max(min(c.PollInterval*3/4, config.DefaultPollMax), time.Millisecond)
	first := min(most, c.ENSProvision)
	if first <= 0 {
		first = most
	}
	e[config.EnvPollFirst] = first.String()
	e[config.EnvPollMax] = most.String()
	if c.SecretsRefresh > 0 {
		e[config.EnvSecretsRefresh] = c.SecretsRefresh.String()
	}
	e[config.EnvPollWatch] = max(c.PollInterval*11/12, time.Millisecond).String()
	for k, v := range c.Env {
		e[k] = v
	}
	return e
}

// startRuntime starts the three functions' instances.
func (s *Stack) startRuntime(ctx context.Context) error {
	env := s.env()
	creds := func() fclocal.Creds {
		return fclocal.Creds{AccessKeyID: s.cfg.AccessKeyID, AccessKeySecret: s.cfg.AccessKeySecret}
	}
	fn := func(name string, timeout time.Duration, instances int) fclocal.Function {
		return fclocal.Function{Name: name, Binary: s.binaries[name], Env: env, Timeout: timeout,
			MemoryMB: 128, Instances: instances, Handler: "main", Credentials: creds}
	}
	var base []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "TZ", "SYSTEMROOT"} {
		if v, ok := os.LookupEnv(k); ok {
			base = append(base, k+"="+v)
		}
	}
	rt, err := fclocal.New(fclocal.Config{
		Functions: []fclocal.Function{
			fn(FuncWebhook, s.cfg.WebhookTimeout, s.cfg.WebhookInstances),
			fn(FuncWorker, s.cfg.WorkerTimeout, 1),
			fn(FuncPoller, s.cfg.PollerTimeout, 1),
		},
		Region:  s.cfg.Region,
		BaseEnv: base,
		Output:  s.cfg.Output,
		Logger:  s.log.With(slog.String("component", "fclocal")),
	})
	if err != nil {
		return fmt.Errorf("localstack: %w", err)
	}
	s.rt = rt
	if err := rt.Start(ctx); err != nil {
		return fmt.Errorf("localstack: starting functions: %w", err)
	}
	return nil
}

// startTriggers starts the worker's queue trigger and the poller's timer.
func (s *Stack) startTriggers() error {
	requests := s.queues.Queue(s.cfg.RequestsQueue, mns.WithDeadLetter(mns.DeadLetterPolicy{
		Queue: s.cfg.TriggerDeadLetterQueue, MaxReceiveCount: s.cfg.MaxAttempts + 2}))
	dlq := s.queues.Queue(s.cfg.TriggerDeadLetterQueue)
	qt, err := fclocal.NewQueueTrigger(fclocal.QueueTriggerConfig{
		Function: FuncWorker, Invoker: detached{s.rt, s.cfg.OnInvocation}, Source: queueSource{requests},
		QueueName: s.cfg.RequestsQueue, TriggerName: "requests", Region: s.cfg.Region,
		BatchSize: s.cfg.BatchSize, BatchWindow: s.cfg.BatchWindow, PollWait: 2 * time.Second,
		MaxAttempts: s.cfg.MaxAttempts, Backoff: s.cfg.Backoff,
		Visibility: HeldVisibility,
		DeadLetter: func(ctx context.Context, m fclocal.Msg, _ error) error {
			_, err := dlq.Send(ctx, m.Body, 0)
			return err
		},
		Logger: s.log.With(slog.String("trigger", "requests")),
	})
	if err != nil {
		return fmt.Errorf("localstack: %w", err)
	}
	tt, err := fclocal.NewTimerTrigger(fclocal.TimerTriggerConfig{
		Function: FuncPoller, Invoker: detached{s.rt, s.cfg.OnInvocation}, Interval: s.cfg.PollInterval, Name: "tick", Payload: "poll",
		Logger: s.log.With(slog.String("trigger", "tick")),
	})
	if err != nil {
		return fmt.Errorf("localstack: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	for _, run := range []func(context.Context) error{qt.Run, tt.Run} {
		s.triggers.Add(1)
		go func() {
			defer s.triggers.Done()
			_ = run(ctx)
		}()
	}
	return nil
}

// Addrs returns the endpoints as they listen (free ports resolved).
func (s *Stack) Addrs() Addrs { return s.addrs }

// ReadyLine is the line scripts/local prints once everything listens:
// "ready http=… mns=… ens=…" (and " kms=…" with Config.SecretsInKMS).
func (s *Stack) ReadyLine() string {
	line := fmt.Sprintf("ready http=%s mns=%s ens=%s", s.addrs.HTTP, s.addrs.MNS, s.addrs.ENS)
	if s.addrs.KMS != "" {
		line += " kms=" + s.addrs.KMS
	}
	return line
}

// URL is the webhook's base URL, e.g. http://127.0.0.1:9000.
// InspectURL is the local MNS service's inspection API (queue counts; see
// mnssim.AdminPrefix), or "" when the stack uses a real MNS endpoint.
func (s *Stack) InspectURL() string {
	if s.mns == nil {
		return ""
	}
	return "http://" + s.addrs.MNS + mnssim.AdminPrefix + "queues"
}

func (s *Stack) URL() string { return "http://" + s.addrs.HTTP }

// ENS returns the ENS simulator (admin methods: Stats, Pools, FailPool,
// InjectFault…), or nil when a real ENS endpoint is used.
func (s *Stack) ENS() *enssim.Server { return s.ens }

// KMS returns the KMS simulator holding the functions' secrets (PutSecret
// rotates one), or nil without Config.SecretsInKMS.
func (s *Stack) KMS() *kmssim.Server { return s.kms }

// Runtime returns the local FC runtime hosting the functions
// (Instances reports PIDs and cold starts).
func (s *Stack) Runtime() *fclocal.Runtime { return s.rt }

// Queue returns a handle on a queue of the stack (by name), signed with the
// stack's key pair.
func (s *Stack) Queue(name string) *mns.Queue { return s.queues.Queue(name) }

// Config returns the configuration in effect (defaults applied).
func (s *Stack) Config() Config { return s.cfg }

// Close stops the triggers, lets running invocations and in-flight HTTP
// requests finish (up to Config.StopGrace), stops the
// function instances (SIGTERM, then kill) and the simulators, and waits for
// every goroutine it started. Messages in work are redelivered by the next
// stack on the same DataDir. It is safe to call more than once.
func (s *Stack) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Stack) close() error {
	var errs []error
	if s.cancel != nil {
		s.cancel()
	}
	// Answer waiting long polls so the triggers' receives end now.
	if s.mns != nil {
		s.mns.CancelPolls()
	}
	// Invocations already running finish (detached), for up to StopGrace;
	// after that closing the runtime ends them.
	waited := make(chan struct{})
	go func() { s.triggers.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(s.cfg.StopGrace):
		s.log.Warn("localstack: invocations still running after the stop grace; stopping the functions")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The webhook's trigger first (in-flight requests finish), then the
	// functions, then the services they talk to.
	if s.webhook != nil {
		if err := s.webhook.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if s.rt != nil {
		errs = append(errs, s.rt.Close())
	}
	for _, hs := range s.servers {
		if hs == s.webhook {
			continue
		}
		if err := hs.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	<-waited
	s.serving.Wait()
	if s.mns != nil {
		errs = append(errs, s.mns.Close())
	}
	if s.ens != nil {
		errs = append(errs, s.ens.Close())
	}
	return errors.Join(errs...)
}

// detached lets an invocation that has started finish when its trigger
// stops (as FC does not abort a running function when its event source is
// disabled); Close bounds the wait with StopGrace and then closes the
// runtime, which ends it with fclocal.ErrClosed.
type detached struct {
	inv    fclocal.Invoker
	onDone func(function string, took time.Duration, err error)
}

func (d detached) Do(ctx context.Context, req fclocal.Request) (fclocal.Result, error) {
	if ctx.Err() != nil {
		return fclocal.Result{}, ctx.Err() // not started: leave the messages for the next run
	}
	start := time.Now()
	res, err := d.inv.Do(context.WithoutCancel(ctx), req)
	if d.onDone != nil {
		d.onDone(req.Function, time.Since(start), err)
	}
	return res, err
}

// queueSource adapts a pkg/mns queue to the runtime's trigger source.
type queueSource struct{ q *mns.Queue }

func (s queueSource) Receive(ctx context.Context, max int, wait time.Duration) ([]fclocal.Msg, error) {
	ms, err := s.q.Receive(ctx, max, wait)
	if errors.Is(err, mns.ErrEmpty) {
		return nil, nil
	}
	out := make([]fclocal.Msg, len(ms))
	for i, m := range ms {
		out[i] = fclocal.Msg{ID: m.ID, ReceiptHandle: m.ReceiptHandle, Body: m.Body,
			DequeueCount: m.DequeueCount, EnqueueTime: m.EnqueueTime}
	}
	return out, err
}

func (s queueSource) Delete(ctx context.Context, receipt string) error {
	return s.q.Delete(ctx, receipt)
}

func (s queueSource) ChangeVisibility(ctx context.Context, receipt string, d time.Duration) (string, error) {
	return s.q.ChangeVisibility(ctx, receipt, d)
}
