// Command enqueue puts one node-pool request on the requests queue as a
// valid, versioned envelope (pkg/nodepool, schema
// pkg/nodepool/envelope.schema.json), so automation never hand-crafts one:
// it decodes the request JSON strictly, validates it with the webhook's
// rules, seals a Password with SEAL_KEYS and sends the envelope.
//
//	SEAL_KEYS=k1:<base64 32 bytes> ALIBABA_CLOUD_ACCESS_KEY_ID=… ALIBABA_CLOUD_ACCESS_KEY_SECRET=… \
//	  go run ./scripts/enqueue -file request.json -endpoint http://127.0.0.1:9100 -queue nodepool-requests
//
// It prints {"RequestId","MessageId","ClusterId","Name"} on success. With
// -dry-run it prints the envelope instead of sending it (the password is
// sealed in it). -idempotency-key makes the RequestId stable across retries.
// -caller names the caller (CALLERS Id) the request is made for; with
// CALLERS set on the functions every envelope must name one and be signed
// by it: CALLER_SECRET holds one of that caller's Secrets (whsec_…; never
// a flag, which other users of the machine could read), and the envelope
// goes out as a signed version 2 (nodepool.SignedEnvelope), which the
// worker verifies before it reads anything else, then checks that
// caller's policy before creating.
//
//	CALLER_SECRET=whsec_… go run ./scripts/enqueue -caller portal-a -file request.json …
//
// Everything printed is escaped for the terminal (pkg/termtext).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ensnodepool/webhook/pkg/caller"
	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/fcapp"
	"github.com/ensnodepool/webhook/pkg/mns"
	"github.com/ensnodepool/webhook/pkg/nodepool"
	"github.com/ensnodepool/webhook/pkg/termtext"
)

// envCallerSecret holds the secret -caller signs with.
const envCallerSecret = "CALLER_SECRET"

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "enqueue:", termtext.Escape(err.Error()))
		os.Exit(1)
	}
}

// run is main without the process: flags in args, environment through
// getenv.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	esc := termtext.NewWriter(stdout)
	defer esc.Flush()
	stdout = esc
	fs := flag.NewFlagSet("enqueue", flag.ContinueOnError)
	file := fs.String("file", "", "request JSON file (the webhook's body); - reads stdin")
	endpoint := fs.String("endpoint", getenv(config.EnvMNSEndpoint), "MNS endpoint (default $MNS_ENDPOINT)")
	queueName := fs.String("queue", cmpOr(getenv(config.EnvRequestsQueue), config.DefaultRequestsQueue), "requests queue (default $QUEUE_REQUESTS)")
	idemKey := fs.String("idempotency-key", "", "makes the RequestId stable: the same key gives the same RequestId")
	source := fs.String("source", nodepool.SourceQueue, "Envelope.Source: who produces the request")
	allowHTTP := fs.Bool("allow-http-callback", false, "accept an http:// or loopback Callback.Url (local stack only)")
	dryRun := fs.Bool("dry-run", false, "print the envelope instead of sending it")
	callerID := fs.String("caller", "", "Envelope.Caller: the CALLERS Id the request is made for (required when the functions run with CALLERS); signs with $"+envCallerSecret)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *file == "" {
		return errors.New("-file is required")
	}
	var body []byte
	var err error
	if *file == "-" {
		body, err = io.ReadAll(io.LimitReader(stdin, 1<<20))
	} else {
		body, err = os.ReadFile(*file)
	}
	if err != nil {
		return err
	}
	req, err := nodepool.Decode(body)
	if err != nil {
		return err
	}
	vc := nodepool.ValidationConfig{AllowHTTPCallback: *allowHTTP}
	if *allowHTTP {
		vc.CallbackAllow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	if err := nodepool.NewValidator(vc).Validate(req); err != nil {
		if !*allowHTTP && req.Callback != nil && isLocal(req.Callback.Url) {
			return fmt.Errorf("%w (an http:// or loopback callback is for the local stack: add -allow-http-callback)", err)
		}
		return err
	}
	var sealer *nodepool.Sealer
	if keys := getenv(config.EnvSealKeys); keys != "" {
		ks, err := nodepool.ParseKeys(keys)
		if err != nil {
			return fmt.Errorf("%s: %w", config.EnvSealKeys, err)
		}
		if sealer, err = nodepool.NewSealer(ks); err != nil {
			return fmt.Errorf("%s: %w", config.EnvSealKeys, err)
		}
	} else if req.ScalingGroup.Password != "" {
		return fmt.Errorf("the request has a Password: set %s so it is sealed", config.EnvSealKeys)
	}
	key, err := callerKey(*callerID, getenv)
	if err != nil {
		return err
	}
	q, err := queue(*dryRun, *endpoint, *queueName, getenv, stdout)
	if err != nil {
		return err
	}
	requestID := nodepool.RequestID(*idemKey, "")
	messageID, err := nodepool.Submit(ctx, q, nodepool.Submission{Request: req, RequestID: requestID,
		Source: *source, ReceivedAt: time.Now(), Sealer: sealer, Caller: *callerID, Key: key})
	if err != nil || *dryRun {
		return err
	}
	return json.NewEncoder(stdout).Encode(map[string]string{"RequestId": requestID, "MessageId": messageID,
		"ClusterId": req.ClusterId, "Name": req.NodepoolInfo.Name})
}

// callerKey is the key the envelope of callerID is signed with: from
// CALLER_SECRET, one of the caller's Secrets. No caller, no key. The error
// never holds the secret.
func callerKey(callerID string, getenv func(string) string) ([]byte, error) {
	if callerID == "" {
		return nil, nil
	}
	sec := strings.TrimSpace(getenv(envCallerSecret))
	if sec == "" {
		return nil, fmt.Errorf("-caller needs %s: one of the caller's Secrets (whsec_…), which signs the envelope", envCallerSecret)
	}
	raw, err := caller.ParseSecret(sec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envCallerSecret, err)
	}
	return nodepool.EnvelopeKey(raw), nil
}

// queue returns the requests queue, or with dryRun a Sender that prints
// the envelope to stdout instead.
func queue(dryRun bool, endpoint, name string, getenv func(string) string, stdout io.Writer) (nodepool.Sender, error) {
	if dryRun {
		return nodepool.SenderFunc(func(_ context.Context, body string) (string, error) {
			_, err := fmt.Fprintf(stdout, "%s\n", body)
			return "", err
		}), nil
	}
	if endpoint == "" {
		return nil, fmt.Errorf("-endpoint or %s is required", config.EnvMNSEndpoint)
	}
	if u, err := url.Parse(endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		strings.Trim(u.Path, "/") != "" {
		return nil, fmt.Errorf("-endpoint (or %s): want http(s)://host[:port] without user info or a path, e.g. http://127.0.0.1:9100",
			config.EnvMNSEndpoint)
	}
	if getenv(config.EnvAccessKeyID) == "" || getenv(config.EnvAccessKeySecret) == "" {
		return nil, fmt.Errorf("no MNS credentials: set %s and %s (with %s for STS credentials)",
			config.EnvAccessKeyID, config.EnvAccessKeySecret, config.EnvSecurityToken)
	}
	qc, err := mns.New(mns.Config{Endpoint: endpoint, Credentials: mns.Credentials{
		AccessKeyID: getenv(config.EnvAccessKeyID), AccessKeySecret: getenv(config.EnvAccessKeySecret),
		SecurityToken: getenv(config.EnvSecurityToken)}})
	if err != nil {
		return nil, err
	}
	return fcapp.RequestsSender(qc.Queue(name)), nil
}

// isLocal reports whether a callback URL is http:// or names a loopback
// address: what only the local stack accepts.
func isLocal(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	if u.Scheme == "http" {
		return true
	}
	a, err := netip.ParseAddr(u.Hostname())
	return err == nil && a.IsLoopback() || u.Hostname() == "localhost"
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
