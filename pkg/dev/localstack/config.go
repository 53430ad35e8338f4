package localstack

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/dev/apicheck"
	"github.com/ensnodepool/webhook/pkg/dev/enssim"
	"github.com/ensnodepool/webhook/pkg/queues"
)

// ErrConfig reports an invalid Config.
var ErrConfig = errors.New("localstack: invalid configuration")

// Function names, as the runtime and the logs know them.
const (
	FuncWebhook = "webhook"
	FuncWorker  = "worker"
	FuncPoller  = "poller"
)

// Config configures a Stack. Zero values take the defaults of
// docs/local.md ("Flags"); the secrets and the key pair are
// required (scripts/local fills in printed development values).
type Config struct {
	// HTTPAddr is the webhook's HTTP trigger; default 127.0.0.1:9000.
	// MNSAddr and ENSAddr are the simulators' listeners; defaults
	// 127.0.0.1:9100 and 127.0.0.1:9200. Port 0 picks a free port;
	// Stack.Addrs reports the actual addresses.
	HTTPAddr, MNSAddr, ENSAddr string
	// DataDir holds the durable state (DataDir/mns, DataDir/ens) and the
	// built binaries (DataDir/bin); default ".localstack".
	DataDir string
	// PollInterval is the poller's timer period; default 10s.
	PollInterval time.Duration
	// ENSProvision is how long a simulated pool takes to become active;
	// default 20s.
	ENSProvision time.Duration

	// WebhookSecrets are the inbound Standard Webhooks secrets (whsec_…,
	// several for rotation). Required unless Callers is set (then empty).
	WebhookSecrets []string
	// CallbackSecrets sign outbound callbacks (whsec_…; several during a
	// rotation: every callback carries one signature each). Required.
	CallbackSecrets []string
	// Callers is the CALLERS setting (inline JSON or a file path): the
	// callers and their policies, replacing WebhookSecrets.
	Callers string
	// AccessKeyID and AccessKeySecret are the key pair the simulators
	// accept and the functions receive as per-invocation credentials (with
	// real endpoints: a real key pair). Required.
	AccessKeyID, AccessKeySecret string
	// SealKeys is the password sealing key list "kid:base64key,…". Required.
	SealKeys string

	// BinDir holds prebuilt function binaries named webhook, worker and
	// poller. Empty: they are built with `go build` into DataDir/bin from
	// ModuleDir.
	BinDir string
	// ModuleDir is the module root to build from; default the directory of
	// `go env GOMOD`.
	ModuleDir string
	// Packages overrides the package built for a function (name → import
	// path or ./relative path); default DefaultPackages.
	Packages map[string]string

	// SecretsInKMS keeps every secret setting — WEBHOOK_SECRET,
	// CALLBACK_SECRET, SEAL_KEYS and any secret setting in Env (ChatOps) —
	// in a local KMS Secrets Manager (pkg/dev/kmssim) as secrets named
	// ens-nodepool/<setting in lower case>, and gives the functions
	// "kms:<name>" references instead of the values, as a deployment that
	// keeps its secrets in KMS does.
	SecretsInKMS bool
	// KMSAddr is the KMS simulator's listener with SecretsInKMS; default
	// 127.0.0.1:9400.
	KMSAddr string
	// SecretsRefresh is the functions' SECRETS_REFRESH; zero leaves their
	// default.
	SecretsRefresh time.Duration

	// MNSEndpoint, when set, is a real MNS endpoint
	// (https://<uid>.mns.<region>.aliyuncs.com) used instead of the
	// simulator.
	MNSEndpoint string
	// ENSEndpoint, when set, is a real ENS endpoint (host[:port], e.g.
	// ens.aliyuncs.com) used instead of the simulator, with ENSProtocol
	// (default HTTPS).
	ENSEndpoint, ENSProtocol string
	// Region is FC_REGION and ENS_REGION; default cn-hangzhou.
	Region string
	// Clusters seed the ENS simulator; default enssim.DefaultClusters().
	Clusters []enssim.ClusterSeed

	// RequestsQueue, TrackingQueue and DeadLetterQueue name the queues;
	// defaults as pkg/config.
	RequestsQueue, TrackingQueue, DeadLetterQueue string
	// TriggerDeadLetterQueue receives the worker trigger's raw dead
	// letters (the requests it gave up on), as the cloud trigger's
	// deadLetterQueue in s.yaml; default queues.DefaultTriggerDeadLetter.
	TriggerDeadLetterQueue string
	// BatchSize and BatchWindow are the worker trigger's count and time
	// batch windows; defaults 50 and 1s (50 creates are 5 s of the 10/s
	// limit: fewer gaps between batches and fewer describes than 16).
	BatchSize   int
	BatchWindow time.Duration
	// MaxAttempts is how many deliveries a request gets before it is
	// dead-lettered; default 4 (BACKOFF_RETRY: 3 retries).
	MaxAttempts int
	// Backoff is the redelivery delay after the n-th failed delivery;
	// default fclocal.DefaultBackoff (1s·2^(n-1) ±20%, ≤30s).
	Backoff func(attempt int) time.Duration
	// WebhookInstances is the webhook's instance pool; default 2. The
	// worker and the poller have one instance each (reservedConcurrency 1).
	WebhookInstances int
	// WebhookTimeout, WorkerTimeout and PollerTimeout are the function
	// timeouts; defaults 10s, 120s and 58s as in s.yaml.
	WebhookTimeout, WorkerTimeout, PollerTimeout time.Duration
	// PoolDeadline is POOL_DEADLINE; empty leaves the functions' default.
	PoolDeadline time.Duration
	// LogLevel is the functions' LOG_LEVEL; default info.
	LogLevel string
	// StopGrace bounds how long Close lets running worker and poller
	// invocations finish before it stops the functions; default 10s.
	StopGrace time.Duration
	// Env adds variables to every function (after the stack's own).
	Env map[string]string
	// Check, when set, validates every exchange of the webhook's HTTP
	// trigger against the API document (apicheck.Checker.Handler): the
	// request and the answer, whoever sends it. The tests' kit sets it
	// (testkit.Start); its failures are the Checker's to report.
	Check *apicheck.Checker
	// OnInvocation, when set, is called after every worker and poller
	// invocation with its function name, duration and error (benchmarks
	// derive function time from it).
	OnInvocation func(function string, took time.Duration, err error)

	// Output receives the functions' log lines, each prefixed
	// "[<function>#<n>] "; default os.Stderr.
	Output io.Writer
	// Logger receives the stack's and the simulators' own events; nil
	// discards.
	Logger *slog.Logger
}

// DefaultPackages maps each function to the package it is built from.
func DefaultPackages() map[string]string {
	return map[string]string{
		FuncWebhook: "./functions/webhook",
		FuncWorker:  "./functions/worker",
		FuncPoller:  "./functions/poller",
	}
}

func (c Config) withDefaults() Config {
	c.HTTPAddr = cmp.Or(c.HTTPAddr, "127.0.0.1:9000")
	c.MNSAddr = cmp.Or(c.MNSAddr, "127.0.0.1:9100")
	c.ENSAddr = cmp.Or(c.ENSAddr, "127.0.0.1:9200")
	c.KMSAddr = cmp.Or(c.KMSAddr, "127.0.0.1:9400")
	c.DataDir = cmp.Or(c.DataDir, ".localstack")
	c.PollInterval = cmp.Or(c.PollInterval, 10*time.Second)
	c.ENSProvision = cmp.Or(c.ENSProvision, 20*time.Second)
	c.ENSProtocol = strings.ToUpper(cmp.Or(c.ENSProtocol, "HTTPS"))
	c.Region = cmp.Or(c.Region, "cn-hangzhou")
	c.RequestsQueue = cmp.Or(c.RequestsQueue, config.DefaultRequestsQueue)
	c.TrackingQueue = cmp.Or(c.TrackingQueue, config.DefaultTrackingQueue)
	c.DeadLetterQueue = cmp.Or(c.DeadLetterQueue, config.DefaultDeadLetterQueue)
	c.TriggerDeadLetterQueue = cmp.Or(c.TriggerDeadLetterQueue, queues.DefaultTriggerDeadLetter)
	c.BatchSize = cmp.Or(c.BatchSize, 50)
	c.BatchWindow = cmp.Or(c.BatchWindow, time.Second)
	c.MaxAttempts = cmp.Or(c.MaxAttempts, 4)
	c.WebhookInstances = cmp.Or(c.WebhookInstances, 2)
	c.WebhookTimeout = cmp.Or(c.WebhookTimeout, 10*time.Second)
	c.WorkerTimeout = cmp.Or(c.WorkerTimeout, 120*time.Second)
	c.PollerTimeout = cmp.Or(c.PollerTimeout, 58*time.Second)
	c.LogLevel = cmp.Or(c.LogLevel, "info")
	c.StopGrace = cmp.Or(c.StopGrace, 10*time.Second)
	pk := DefaultPackages()
	for k, v := range c.Packages {
		pk[k] = v
	}
	c.Packages = pk
	if c.Output == nil {
		c.Output = os.Stderr
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	for _, a := range []struct{ name, addr string }{{"HTTPAddr", c.HTTPAddr}, {"MNSAddr", c.MNSAddr}, {"ENSAddr", c.ENSAddr}, {"KMSAddr", c.KMSAddr}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: want host:port", a.name, a.addr))
		}
	}
	switch {
	case len(c.WebhookSecrets) == 0 && c.Callers == "":
		errs = append(errs, errors.New("WebhookSecrets: at least one whsec_ secret is required (or Callers)"))
	case len(c.WebhookSecrets) > 0 && c.Callers != "":
		errs = append(errs, errors.New("WebhookSecrets and Callers are exclusive"))
	}
	for i, s := range c.WebhookSecrets {
		if !strings.HasPrefix(s, "whsec_") {
			errs = append(errs, fmt.Errorf("WebhookSecrets[%d]: want the whsec_ form", i))
		}
	}
	if len(c.CallbackSecrets) == 0 {
		errs = append(errs, errors.New("CallbackSecrets: at least one whsec_ secret is required"))
	}
	for i, s := range c.CallbackSecrets {
		if !strings.HasPrefix(s, "whsec_") {
			errs = append(errs, fmt.Errorf("CallbackSecrets[%d]: want the whsec_ form", i))
		}
	}
	if c.AccessKeyID == "" || c.AccessKeySecret == "" {
		errs = append(errs, errors.New("AccessKeyID and AccessKeySecret are required"))
	}
	if c.SealKeys == "" {
		errs = append(errs, errors.New("SealKeys is required"))
	}
	if c.ENSProtocol != "HTTPS" && c.ENSProtocol != "HTTP" {
		errs = append(errs, fmt.Errorf("ENSProtocol %q: want HTTPS or HTTP", c.ENSProtocol))
	}
	if c.PollInterval < 0 || c.ENSProvision < 0 || c.BatchWindow < 0 || c.PoolDeadline < 0 || c.StopGrace < 0 {
		errs = append(errs, errors.New("durations must not be negative"))
	}
	if c.BatchSize < 0 || c.MaxAttempts < 0 || c.WebhookInstances < 0 {
		errs = append(errs, errors.New("BatchSize, MaxAttempts and WebhookInstances must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}
