// Command local runs the whole product on one machine (pkg/dev/localstack): the
// three function binaries under the local FC runtime, the MNS-compatible
// queue service and the ENS simulator, wired as s.yaml wires them in the
// cloud.
//
//	go run ./scripts/local                       # ready http=127.0.0.1:9000 mns=127.0.0.1:9100 ens=127.0.0.1:9200
//	                                             # (and where the MNS inspection API is: http://127.0.0.1:9100/_emulator/queues)
//	go run ./scripts/local -demo -ens-provision 5s
//
// Flags (README.md, "Local stack"): -http, -mns, -ens, -data,
// -poll-interval, -ens-provision, -demo.
//
// Environment: WEBHOOK_SECRET (whsec_…, comma-separated for rotation),
// CALLBACK_SECRET, ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET,
// SEAL_KEYS ("kid:base64key,…") — each falls back to a printed development
// value when unset. MNS_ENDPOINT (https://<uid>.mns.<region>.aliyuncs.com)
// and ENS_ENDPOINT (host, e.g. ens.aliyuncs.com; ENS_PROTOCOL default HTTPS)
// use real services instead of the simulators and then require a real key
// pair. FC_REGION sets the region (default cn-hangzhou), LOG_LEVEL the
// functions' log level (default info; warn with -demo).
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
	"strings"
	"syscall"
	"time"

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

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	httpAddr := fs.String("http", "127.0.0.1:9000", "the webhook's HTTP trigger")
	mnsAddr := fs.String("mns", "127.0.0.1:9100", "MNS-compatible queue service")
	ensAddr := fs.String("ens", "127.0.0.1:9200", "ENS-compatible API service (admin under /_emulator/)")
	data := fs.String("data", ".localstack", "durable state of queues and simulated pools")
	poll := fs.Duration("poll-interval", 10*time.Second, "timer trigger period for the poller")
	provision := fs.Duration("ens-provision", 20*time.Second, "how long a simulated pool takes to become active")
	demo := fs.Bool("demo", false, "also run a callback receiver, send events/create-nodepool.json, print callbacks, exit 0 on nodepool.active")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	cfg := localstack.Config{
		HTTPAddr: *httpAddr, MNSAddr: *mnsAddr, ENSAddr: *ensAddr, DataDir: *data,
		PollInterval: *poll, ENSProvision: *provision,
		MNSEndpoint: getenv("MNS_ENDPOINT"), ENSEndpoint: getenv("ENS_ENDPOINT"), ENSProtocol: getenv("ENS_PROTOCOL"),
		Region:   getenv("FC_REGION"),
		LogLevel: getenv("LOG_LEVEL"),
		Output:   stderr,
	}
	if *demo && cfg.LogLevel == "" {
		cfg.LogLevel = "warn"
	}
	var defaulted []string
	secret := func(name, dev string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		defaulted = append(defaulted, fmt.Sprintf("  %s=%s", name, dev))
		return dev
	}
	for _, s := range strings.Split(secret("WEBHOOK_SECRET", localstack.DevWebhookSecret), ",") {
		if s = strings.TrimSpace(s); s != "" {
			cfg.WebhookSecrets = append(cfg.WebhookSecrets, s)
		}
	}
	cfg.CallbackSecret = secret("CALLBACK_SECRET", localstack.DevCallbackSecret)
	cfg.SealKeys = secret("SEAL_KEYS", localstack.DevSealKeys)
	realKeys := getenv("ALIBABA_CLOUD_ACCESS_KEY_ID") != "" && getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET") != ""
	if (cfg.MNSEndpoint != "" || cfg.ENSEndpoint != "") && !realKeys {
		return errors.New("MNS_ENDPOINT or ENS_ENDPOINT is set: ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET are required")
	}
	if realKeys {
		cfg.AccessKeyID, cfg.AccessKeySecret = getenv("ALIBABA_CLOUD_ACCESS_KEY_ID"), getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
	} else {
		cfg.AccessKeyID, cfg.AccessKeySecret = localstack.DevAccessKeyID, localstack.DevAccessKeySecret
		defaulted = append(defaulted, "  ALIBABA_CLOUD_ACCESS_KEY_ID="+localstack.DevAccessKeyID,
			"  ALIBABA_CLOUD_ACCESS_KEY_SECRET="+localstack.DevAccessKeySecret)
	}
	if len(defaulted) > 0 {
		fmt.Fprintln(stdout, "local: unset in the environment, using public development values (local use only):")
		for _, d := range defaulted {
			fmt.Fprintln(stdout, d)
		}
	}

	var template []byte
	if *demo {
		root, err := localstack.ModuleRoot(ctx, "")
		if err != nil {
			return err
		}
		cfg.ModuleDir = root
		if template, err = os.ReadFile(filepath.Join(root, "events", "create-nodepool.json")); err != nil {
			return err
		}
	}

	start := time.Now()
	st, err := localstack.Start(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, st.ReadyLine())
	fmt.Fprintf(stdout, "local: started in %v; webhook %s/v1/nodepools, ENS admin http://%s/_emulator/, data %s\n",
		time.Since(start).Round(time.Millisecond), st.URL(), st.Addrs().ENS, *data)
	if u := st.InspectURL(); u != "" {
		fmt.Fprintf(stdout, "local: MNS inspection %s (peek: …/queues/{name}/messages); dead letters: go run ./scripts/deadletter -endpoint http://%s list\n",
			u, st.Addrs().MNS)
	}

	var runErr error
	if *demo {
		// Time limit: the provisioning time plus the poller's first checks
		// (tracking backoff 10s, 20s, …) and ticks, with room to spare.
		limit := max(2*time.Minute, 4*(*provision+*poll))
		dctx, cancel := context.WithTimeout(ctx, limit)
		res, err := localstack.Demo(dctx, localstack.DemoConfig{
			URL: st.URL(), WebhookSecret: cfg.WebhookSecrets[0], CallbackSecret: cfg.CallbackSecret,
			Template: template, Out: stdout,
		})
		cancel()
		if err == nil {
			fmt.Fprintf(stdout, "demo: nodepool.active after %v (total %v)\n", res.Took.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		}
		runErr = err
	} else {
		<-ctx.Done()
		fmt.Fprintln(stdout, "local: shutting down")
	}
	if err := st.Close(); err != nil {
		runErr = cmp.Or(runErr, err)
	}
	return runErr
}
