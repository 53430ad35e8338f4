// Command local runs the whole product on one machine (pkg/dev/localstack): the
// three function binaries under the local FC runtime, the MNS-compatible
// queue service and the ENS simulator, wired as s.yaml wires them in the
// cloud.
//
//	go run ./scripts/local                       # ready http=127.0.0.1:9000 mns=127.0.0.1:9100 ens=127.0.0.1:9200
//	                                             # (and where the MNS inspection API is: http://127.0.0.1:9100/_emulator/queues)
//	go run ./scripts/local -demo -ens-provision 5s
//
// Flags (docs/local.md, "Flags"): -http, -mns, -ens, -data,
// -poll-interval, -ens-provision, -bin, -demo, -receiver, -secrets-in-kms,
// -kms.
//
// Environment: WEBHOOK_SECRET and CALLBACK_SECRET (whsec_…, comma-separated
// for rotation) — or CALLERS (docs/callers.md) instead of WEBHOOK_SECRET,
// then -demo signs as the first caller with Secrets and verifies with its
// CallbackSecret —, ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET,
// SEAL_KEYS ("kid:base64key,…") — each falls back to a printed development
// value when unset. Every other function setting (pkg/config: ChatOps
// secrets and presets, POOL_DEADLINE, POLL_FIRST, …) is passed to the
// functions as it is. MNS_ENDPOINT (https://<uid>.mns.<region>.aliyuncs.com)
// and ENS_ENDPOINT (host, e.g. ens.aliyuncs.com; ENS_PROTOCOL default HTTPS)
// use real services instead of the simulators and then require a real key
// pair. FC_REGION sets the region (default cn-hangzhou), LOG_LEVEL the
// functions' log level (default info; warn with -demo).
//
// With -receiver ADDR it also runs, on that loopback address, a receiver
// that prints every POST it gets (secrets masked) and answers 200: point a
// Slack command's response_url, a DingTalk sessionWebhook or a request's
// Callback.Url at it, and FEISHU_API_BASE (it answers Feishu's tenant-token
// and reply calls).
//
// With -demo it also runs a callback receiver on 127.0.0.1 that verifies
// signatures, sends events/create-nodepool.json (fresh pool name, callback
// URL pointing at the receiver) signed with WEBHOOK_SECRET, prints each
// callback and exits 0 on nodepool.active, 1 on nodepool.failed,
// nodepool.timeout or after its time limit. SIGINT/SIGTERM shut down
// gracefully; state stays under -data for the next run.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ensnodepool/webhook/pkg/caller"
	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/dev/localstack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "local:", err)
		os.Exit(1)
	}
}

// flags are scripts/local's command line.
type flags struct {
	httpAddr, mnsAddr, ensAddr, kmsAddr, data, receiver, bin string
	poll, provision                                          time.Duration
	inKMS, demo                                              bool
}

// parseFlags reads the command line; defaults are those of docs/local.md, "Flags".
func parseFlags(args []string, stderr io.Writer) (flags, error) {
	var f flags
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.httpAddr, "http", "127.0.0.1:9000", "the webhook's HTTP trigger")
	fs.StringVar(&f.mnsAddr, "mns", "127.0.0.1:9100", "MNS-compatible queue service")
	fs.StringVar(&f.ensAddr, "ens", "127.0.0.1:9200", "ENS-compatible API service (admin under /_emulator/)")
	fs.StringVar(&f.data, "data", ".localstack", "durable state of queues and simulated pools")
	fs.DurationVar(&f.poll, "poll-interval", 10*time.Second, "timer trigger period for the poller")
	fs.DurationVar(&f.provision, "ens-provision", 20*time.Second, "how long a simulated pool takes to become active")
	fs.StringVar(&f.receiver, "receiver", "", "also run, on this loopback address, a receiver that prints every POST it gets, secrets masked (a local Slack response_url, DingTalk sessionWebhook or Callback.Url), answers 200, and answers Feishu's token and reply calls (FEISHU_API_BASE)")
	fs.StringVar(&f.kmsAddr, "kms", "127.0.0.1:9400", "KMS-compatible secrets service (with -secrets-in-kms)")
	fs.BoolVar(&f.inKMS, "secrets-in-kms", false, "keep every secret setting in the local KMS and give the functions kms:<name> references")
	fs.StringVar(&f.bin, "bin", "", "prebuilt webhook, worker and poller binaries (default: build them)")
	fs.BoolVar(&f.demo, "demo", false, "also run a callback receiver, send events/create-nodepool.json, print callbacks, exit 0 on nodepool.active")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return f, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fl, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	cfg, defaulted, err := stackConfig(getenv)
	if err != nil {
		return err
	}
	cfg.HTTPAddr, cfg.MNSAddr, cfg.ENSAddr, cfg.DataDir = fl.httpAddr, fl.mnsAddr, fl.ensAddr, fl.data
	cfg.PollInterval, cfg.ENSProvision, cfg.BinDir = fl.poll, fl.provision, fl.bin
	cfg.SecretsInKMS, cfg.KMSAddr = fl.inKMS, fl.kmsAddr
	cfg.Output = stderr
	if fl.demo && cfg.LogLevel == "" {
		cfg.LogLevel = "warn"
	}
	if len(defaulted) > 0 {
		fmt.Fprintln(stdout, "local: unset in the environment, using public development values (local use only):")
		for _, d := range defaulted {
			fmt.Fprintln(stdout, d)
		}
	}

	var template []byte
	if fl.demo {
		root, err := localstack.ModuleRoot(ctx, "")
		if err != nil {
			return err
		}
		cfg.ModuleDir = root
		if template, err = os.ReadFile(filepath.Join(root, "events", "create-nodepool.json")); err != nil {
			return err
		}
	}

	if fl.receiver != "" {
		rcv, err := receiverFor(fl.receiver, cfg, stdout)
		if err != nil {
			return err
		}
		defer rcv.Close()
	}

	start := time.Now()
	st, err := localstack.Start(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, st.ReadyLine())
	fmt.Fprintf(stdout, "local: started in %v; webhook %s/v1/nodepools, ENS admin http://%s/_emulator/, data %s\n",
		time.Since(start).Round(time.Millisecond), st.URL(), st.Addrs().ENS, fl.data)
	printTools(stdout, st, cfg)

	var runErr error
	if fl.demo {
		runErr = runDemo(ctx, st, cfg, fl, template, start, stdout)
	} else {
		<-ctx.Done()
		fmt.Fprintln(stdout, "local: shutting down")
	}
	if err := st.Close(); err != nil {
		runErr = cmp.Or(runErr, err)
	}
	return runErr
}

// printTools prints where the stack's inspection APIs are and the
// operator commands that work on it, each runnable as printed: with the
// public development key pair written out, or naming the variables when
// the key pair is the user's own (never printing it).
func printTools(w io.Writer, st *localstack.Stack, cfg localstack.Config) {
	if u := st.InspectURL(); u != "" {
		fmt.Fprintf(w, "local: MNS inspection %s (peek: …/queues/{name}/messages)\n", u)
		creds := config.EnvAccessKeyID + "=" + localstack.DevAccessKeyID + " " + config.EnvAccessKeySecret + "=" + localstack.DevAccessKeySecret + " "
		note := ""
		if cfg.AccessKeyID != localstack.DevAccessKeyID || cfg.AccessKeySecret != localstack.DevAccessKeySecret {
			creds, note = "", " (with the "+config.EnvAccessKeyID+" and "+config.EnvAccessKeySecret+" you gave scripts/local exported)"
		}
		fmt.Fprintf(w, "local: dead letters%s: %sgo run ./scripts/deadletter -endpoint http://%s list\n", note, creds, st.Addrs().MNS)
	}
	if k := st.KMS(); k != nil {
		var names []string
		for _, s := range k.Names() {
			names = append(names, s.SecretName)
		}
		fmt.Fprintf(w, "local: KMS holds %d secrets (values stay there): %s; list them: curl -s http://%s/_emulator/secrets\n",
			len(names), strings.Join(names, ", "), st.Addrs().KMS)
	}
}

// envRegion is the region of the local stack (default cn-hangzhou).
const envRegion = "FC_REGION"

// stackConfig reads the stack's settings from the environment (through
// config.Env, as the functions do): the secrets and key pair (each falling
// back to a printed development value, listed in defaulted), real
// endpoints, and every other setting of pkg/config, passed to the
// functions unchanged (Config.Env) — except CALLBACK_ALLOW_CIDRS, whose
// ranges are added to the loopback ones the local stack needs.
func stackConfig(getenv func(string) string) (cfg localstack.Config, defaulted []string, err error) {
	e := config.NewEnv(getenv)
	cfg = localstack.Config{
		MNSEndpoint: e.String(config.EnvMNSEndpoint, ""), ENSEndpoint: e.String(config.EnvENSEndpoint, ""),
		ENSProtocol: e.String(config.EnvENSProtocol, ""), Region: e.String(envRegion, ""),
		LogLevel: e.String(config.EnvLogLevel, ""), Callers: e.String(config.EnvCallers, ""),
		AccessKeyID: e.String(config.EnvAccessKeyID, ""), AccessKeySecret: e.String(config.EnvAccessKeySecret, ""),
		Env: map[string]string{},
	}
	orDev := func(name string, v []string, dev string) []string {
		if len(v) == 0 {
			defaulted = append(defaulted, "  "+name+"="+dev)
			return []string{dev}
		}
		return v
	}
	webhook := e.SecretList(config.EnvWebhookSecret, nil)
	if cfg.Callers != "" {
		// Checked here so a mistake fails once, not in three function logs.
		if _, err := config.Callers(getenv); err != nil {
			return cfg, nil, err
		}
	} else {
		cfg.WebhookSecrets = orDev(config.EnvWebhookSecret, webhook, localstack.DevWebhookSecret)
	}
	cfg.CallbackSecrets = orDev(config.EnvCallbackSecret, e.SecretList(config.EnvCallbackSecret, nil), localstack.DevCallbackSecret)
	cfg.SealKeys = strings.Join(orDev(config.EnvSealKeys, e.SecretList(config.EnvSealKeys, nil), localstack.DevSealKeys), ",")
	realKeys := cfg.AccessKeyID != "" && cfg.AccessKeySecret != ""
	if (cfg.MNSEndpoint != "" || cfg.ENSEndpoint != "") && !realKeys {
		return cfg, nil, fmt.Errorf("%s or %s is set: %s and %s are required", config.EnvMNSEndpoint, config.EnvENSEndpoint,
			config.EnvAccessKeyID, config.EnvAccessKeySecret)
	}
	if !realKeys {
		cfg.AccessKeyID, cfg.AccessKeySecret = localstack.DevAccessKeyID, localstack.DevAccessKeySecret
		defaulted = append(defaulted, "  "+config.EnvAccessKeyID+"="+localstack.DevAccessKeyID,
			"  "+config.EnvAccessKeySecret+"="+localstack.DevAccessKeySecret)
	}
	// The settings read above the stack turns into its Config; every
	// other one goes to the functions as it is.
	own := e.Names()
	for _, name := range config.Names() {
		if v := e.String(name, ""); v != "" && !slices.Contains(own, name) {
			cfg.Env[name] = v
		}
	}
	if v := cfg.Env[config.EnvCallbackAllowCIDRs]; v != "" {
		cfg.Env[config.EnvCallbackAllowCIDRs] = "127.0.0.0/8,::1/128," + v
	}
	return cfg, defaulted, nil
}

// receiverFor starts the -receiver on a loopback addr: it prints every
// POST and answers 200 (a stand-in for a Slack response_url or a
// callback URL), verifying signed ones with CALLBACK_SECRET and, with
// CALLERS, each caller's CallbackSecret.
func receiverFor(addr string, cfg localstack.Config, stdout io.Writer) (*localstack.Receiver, error) {
	var callerSecrets map[string]string
	if cfg.Callers != "" {
		set, err := caller.Load(cfg.Callers)
		if err != nil {
			return nil, err
		}
		callerSecrets = set.CallbackSecrets()
	}
	rcv, err := localstack.NewReceiver(localstack.ReceiverConfig{Addr: addr, Secrets: cfg.CallbackSecrets,
		CallerSecrets: callerSecrets, Print: stdout, AcceptAll: true, Feishu: true})
	if err != nil {
		return nil, fmt.Errorf("-receiver: %w", err)
	}
	fmt.Fprintf(stdout, "local: receiver http://%s/ prints every POST, secrets masked, and answers Feishu's token and reply calls (%s=http://%s)\n",
		rcv.Addr(), config.EnvFeishuAPIBase, rcv.Addr())
	return rcv, nil
}

// runDemo sends the sample request to the running stack, signed as the
// demo caller, and waits for its nodepool.active callback.
func runDemo(ctx context.Context, st *localstack.Stack, cfg localstack.Config, fl flags, template []byte, start time.Time, stdout io.Writer) error {
	// Time limit: the provisioning time plus the poller's first checks
	// (tracking backoff 10s, 20s, …) and ticks, with room to spare.
	limit := max(2*time.Minute, 4*(fl.provision+fl.poll))
	demoSecret, demoCallback, err := demoSecrets(cfg)
	if err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	res, err := localstack.Demo(dctx, localstack.DemoConfig{
		URL: st.URL(), WebhookSecret: demoSecret, CallbackSecret: demoCallback,
		Template: template, Out: stdout,
	})
	if err == nil {
		fmt.Fprintf(stdout, "demo: nodepool.active after %v (total %v)\n", res.Took.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	}
	return err
}

// demoSecrets returns what -demo signs its request with and verifies the
// callbacks with: WEBHOOK_SECRET and CALLBACK_SECRET, or with CALLERS the
// first caller with Secrets and its CallbackSecret (else CALLBACK_SECRET).
func demoSecrets(cfg localstack.Config) (webhook, callback string, err error) {
	if cfg.Callers == "" {
		return cfg.WebhookSecrets[0], cfg.CallbackSecrets[0], nil
	}
	set, err := caller.Load(cfg.Callers)
	if err != nil {
		return "", "", err
	}
	for _, c := range set.Callers() {
		if len(c.Secrets) > 0 {
			return c.Secrets[0], cmp.Or(c.CallbackSecret, cfg.CallbackSecrets[0]), nil
		}
	}
	return "", "", errors.New("-demo with CALLERS needs a caller with Secrets")
}
