package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/dev/localstack"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
)

// TestMain fails the run if a test leaves a goroutine running.
func TestMain(m *testing.M) { testkit.VerifyTestMain(m) }

// TestRunUntilSignal starts the stack on free ports with the development
// fallbacks kept in the local KMS (-secrets-in-kms: the functions start
// only if they can read them there), waits for the ready line and shuts it
// down as SIGINT would.
func TestRunUntilSignal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the stack")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr testkit.SyncBuffer
	done := make(chan error, 1)
	args := []string{"-http", "127.0.0.1:0", "-mns", "127.0.0.1:0", "-ens", "127.0.0.1:0", "-data", t.TempDir(), "-poll-interval", "1s",
		"-secrets-in-kms", "-kms", "127.0.0.1:0"}
	go func() { done <- run(ctx, args, func(string) string { return "" }, &stdout, &stderr) }()
	deadline := time.After(90 * time.Second)
	for !strings.Contains(stdout.String(), "\nready http=") || !strings.Contains(stdout.String(), "MNS inspection") {
		select {
		case err := <-done:
			t.Fatalf("run ended early: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
		case <-deadline:
			t.Fatalf("no ready line\nstdout:\n%s", stdout.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	for _, want := range []string{"WEBHOOK_SECRET=whsec_", "CALLBACK_SECRET=", "SEAL_KEYS=", "ALIBABA_CLOUD_ACCESS_KEY_ID=", " kms=127.0.0.1:"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout does not print the defaulted %s", want)
		}
	}
	// The printed inspection API answers with the stack's queues.
	m := regexp.MustCompile(`MNS inspection (http://127\.0\.0\.1:\d+/_emulator/queues) `).FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("stdout does not say where the MNS inspection API is:\n%s", stdout.String())
	}
	resp, err := http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	var qs struct{ Queues []struct{ Name string } }
	err = json.NewDecoder(resp.Body).Decode(&qs)
	resp.Body.Close()
	if err != nil || len(qs.Queues) < 3 {
		t.Fatalf("GET %s: %+v %v", m[1], qs, err)
	}
	toolsAsPrinted(t, stdout.String())
	cancel() // what SIGINT/SIGTERM do through signal.NotifyContext
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after shutdown = %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no graceful shutdown within 20s")
	}
}

// toolsAsPrinted runs the operator commands the stack printed, as
// printed, in a shell without the key pair or MNS_ENDPOINT in its
// environment: the dead-letter listing works (credentials included), and
// the KMS line names the secrets it lists, no value.
func toolsAsPrinted(t *testing.T, stdout string) {
	t.Helper()
	m := regexp.MustCompile(`(?m)^local: dead letters: (.*go run ./scripts/deadletter .* list)$`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no dead-letter command printed:\n%s", stdout)
	}
	root, err := localstack.ModuleRoot(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", m[1])
	cmd.Dir = root
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ALIBABA_CLOUD_") && !strings.HasPrefix(kv, config.EnvMNSEndpoint+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "0 of 0 records") {
		t.Errorf("%s: %v\n%s", m[1], err, out)
	}
	k := regexp.MustCompile(`(?m)^local: KMS holds (\d+) secrets \(values stay there\): (.*); list them: curl -s (http://\S+)$`).FindStringSubmatch(stdout)
	if k == nil {
		t.Fatalf("no KMS line:\n%s", stdout)
	}
	for _, want := range []string{"ens-nodepool/webhook_secret", "ens-nodepool/callback_secret", "ens-nodepool/seal_keys"} {
		if !strings.Contains(k[2], want) {
			t.Errorf("KMS line names %q, not %s", k[2], want)
		}
	}
	resp, err := http.Get(k[3])
	if err != nil {
		t.Fatal(err)
	}
	var list struct{ Secrets []struct{ SecretName string } }
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if n, _ := strconv.Atoi(k[1]); err != nil || len(list.Secrets) != n {
		t.Errorf("GET %s: %+v %v; the line says %s", k[3], list, err, k[1])
	}
	if strings.Contains(stdout, "kms:") || strings.Contains(k[0], localstack.DevWebhookSecret) {
		t.Errorf("the KMS line shows a value or a reference: %s", k[0])
	}
}

func TestRunRefusesDevKeysWithRealEndpoints(t *testing.T) {
	env := map[string]string{"ENS_ENDPOINT": "ens.aliyuncs.com"}
	var out bytes.Buffer
	err := run(context.Background(), []string{"-data", t.TempDir()}, func(k string) string { return env[k] }, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "ALIBABA_CLOUD_ACCESS_KEY_ID") {
		t.Fatalf("run = %v, want a refusal naming the key pair", err)
	}
}

func TestRunBadFlag(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-nope"}, func(string) string { return "" }, &out, &out); err == nil {
		t.Fatal("run(-nope) = nil")
	}
}

// TestEveryFunctionSettingPassedThrough: each variable the functions read
// (config.Names) that is set in scripts/local's environment reaches the
// functions' environment unchanged — or, for the key pair, their
// per-invocation credentials, and for CALLBACK_ALLOW_CIDRS, added to the
// loopback ranges. A setting added to pkg/config without being passed
// through fails here.
func TestEveryFunctionSettingPassedThrough(t *testing.T) {
	env := map[string]string{}
	for _, n := range config.Names() {
		env[n] = "value-of-" + n
	}
	env[config.EnvWebhookSecret] = "whsec_a,whsec_b"
	env[config.EnvCallbackSecret] = "whsec_new,whsec_old"
	delete(env, config.EnvCallers) // exclusive with WEBHOOK_SECRET: TestRunWithCallers
	env[config.EnvENSProtocol] = "HTTP"
	cfg, defaulted, err := stackConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if len(defaulted) != 0 {
		t.Errorf("defaulted %v although every variable is set", defaulted)
	}
	got := cfg.FunctionEnv(localstack.Addrs{HTTP: "127.0.0.1:1", MNS: "127.0.0.1:2", ENS: "127.0.0.1:3"})
	for _, n := range config.Names() {
		switch n {
		case config.EnvAccessKeyID, config.EnvAccessKeySecret:
			// Per-invocation credentials, as FC passes them.
			if cfg.AccessKeyID != env[config.EnvAccessKeyID] || cfg.AccessKeySecret != env[config.EnvAccessKeySecret] {
				t.Errorf("key pair %q/%q not passed as the functions' credentials", cfg.AccessKeyID, cfg.AccessKeySecret)
			}
		case config.EnvCallbackAllowCIDRs:
			if !strings.HasSuffix(got[n], ","+env[n]) || !strings.Contains(got[n], "127.0.0.0/8") {
				t.Errorf("%s = %q, want the loopback ranges and %q", n, got[n], env[n])
			}
		default:
			if got[n] != env[n] {
				t.Errorf("%s = %q in the functions' environment, want %q", n, got[n], env[n])
			}
		}
	}
}

// TestChatWalkthrough follows docs/chatops.md ("Try it locally with
// curl") as written: the settings its first block exports and the flags of
// its `go run ./scripts/local` line start the stack (with free ports and a
// shorter provisioning time added), then each platform's block — Slack,
// DingTalk, Feishu — runs verbatim in bash (curl, openssl) with the
// stack's ports in place of 9000 and 9300 (also where URL-encoded). Each
// answer must match the block's "# →" line and the receiver must print
// the lines the page shows after it, in order ("…" stands for anything);
// no secret may be printed.
func TestChatWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the stack")
	}
	testkit.NeedTools(t, "bash", "curl", "openssl")
	root, err := localstack.ModuleRoot(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	blocks := testkit.Recipes(t, filepath.Join(root, "docs", "chatops.md"), "## Try it locally with curl")
	if len(blocks) != 4 {
		t.Fatalf("want the start block and one per platform, got %d blocks", len(blocks))
	}
	rcvPort := freePort(t)
	ports := []string{"127.0.0.1:9300", "127.0.0.1:" + rcvPort, "127.0.0.1%3A9300", "127.0.0.1%3A" + rcvPort}
	env, args := startBlock(t, strings.NewReplacer(ports...).Replace(blocks[0].Shell), root)
	args = append(args, "-http", "127.0.0.1:0", "-mns", "127.0.0.1:0", "-ens", "127.0.0.1:0", "-data", t.TempDir(),
		"-poll-interval", "1s", "-ens-provision", "2s")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr testkit.SyncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, func(k string) string { return env[k] }, &stdout, &stderr) }()
	defer func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("stdout:\n%s\nfunction output:\n%s", stdout.String(), stderr.String())
		}
	}()
	httpAddr := waitReady(t, &stdout, done)
	for _, b := range blocks[1:] {
		out, err := testkit.RunRecipe(t, root, b.Shell, append(ports, "127.0.0.1:9000", httpAddr)...)
		if err != nil || b.Answer == nil || !b.Answer.Match(bytes.TrimSpace(out)) {
			t.Fatalf("%s: %v\n%s\nwant %v", b.Heading, err, out, b.Answer)
		}
		if err := waitLines(&stdout, b.Lines, 60*time.Second); err != nil {
			t.Fatalf("%s: %v", b.Heading, err)
		}
	}
	for name, v := range env {
		if strings.Contains(name, "SECRET") && strings.Contains(stdout.String()+stderr.String(), v) {
			t.Errorf("%s's value was printed", name)
		}
	}
}

// startBlock reads the settings a block exports and the flags of its
// `go run ./scripts/local` line ($PWD is root).
func startBlock(t *testing.T, block, root string) (map[string]string, []string) {
	t.Helper()
	env := map[string]string{}
	var args []string
	for _, l := range strings.Split(block, "\n") {
		l, _, _ = strings.Cut(l, " #")
		switch f := strings.Fields(l); {
		case len(f) > 1 && f[0] == "export":
			for _, kv := range f[1:] {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = strings.ReplaceAll(v, "$PWD", root)
			}
		case len(f) > 2 && f[0] == "go" && f[1] == "run" && f[2] == "./scripts/local":
			args = f[3:]
		}
	}
	if len(env) == 0 || args == nil {
		t.Fatalf("no exports or go run line in:\n%s", block)
	}
	return env, args
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// waitReady waits for the ready line and returns the webhook's address.
func waitReady(t *testing.T, stdout *testkit.SyncBuffer, done <-chan error) string {
	t.Helper()
	ready := regexp.MustCompile(`\nready http=(\S+) `)
	deadline := time.After(120 * time.Second)
	for {
		if m := ready.FindStringSubmatch(stdout.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("run ended early: %v\nstdout:\n%s", err, stdout.String())
		case <-deadline:
			t.Fatalf("no ready line\nstdout:\n%s", stdout.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitLines waits until stdout holds lines matching want, in that order.
func waitLines(stdout *testkit.SyncBuffer, want []*regexp.Regexp, limit time.Duration) error {
	var next int
	for end := time.Now().Add(limit); ; time.Sleep(100 * time.Millisecond) {
		next = 0
		for _, l := range strings.Split(stdout.String(), "\n") {
			if next < len(want) && want[next].MatchString(l) {
				next++
			}
		}
		if next == len(want) {
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("no line matching %s within %v", want[next], limit)
		}
	}
}

func TestReceiverRefusesNonLoopback(t *testing.T) {
	cfg := localstack.Config{CallbackSecrets: []string{localstack.DevCallbackSecret}}
	if _, err := receiverFor("0.0.0.0:0", cfg, io.Discard); err == nil || !strings.Contains(err.Error(), "-receiver") {
		t.Fatalf("receiverFor(0.0.0.0:0) = %v, want a refusal naming -receiver", err)
	}
}

// TestReceiverVerifiesCallers: -receiver with CALLERS verifies a callback
// signed with a caller's CallbackSecret, says whose, and answers 200.
func TestReceiverVerifiesCallers(t *testing.T) {
	const portalSecret = "whsec_cG9ydGFsLWEtY2FsbGJhY2stc2VjcmV0LTAxMjM="
	cfg := localstack.Config{CallbackSecrets: []string{localstack.DevCallbackSecret},
		Callers: `[{"Id":"portal-a","Secrets":["whsec_ZGVtby1jYWxsZXItc2VjcmV0LTAwMDAwMDAwMDAwMA=="],"CallbackSecret":"` + portalSecret + `","Clusters":["*"]}]`}
	var out testkit.SyncBuffer
	rcv, err := receiverFor("127.0.0.1:0", cfg, &out)
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Close()
	if !strings.Contains(out.String(), "local: receiver http://"+rcv.Addr()+"/ prints every POST") {
		t.Errorf("no address line: %q", out.String())
	}
	signer, err := callback.NewSigner(portalSecret)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"a":1}`
	req, _ := http.NewRequest(http.MethodPost, "http://"+rcv.Addr()+"/cb", strings.NewReader(body))
	if req.Header, err = signer.Headers("msg_1", time.Now(), []byte(body)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := "receiver: POST /cb (signature verified with caller portal-a's CallbackSecret) {\"a\":1}\n"
	if resp.StatusCode != http.StatusOK || !strings.Contains(out.String(), want) {
		t.Errorf("POST: %d, want 200; output lacks %q:\n%s", resp.StatusCode, want, out.String())
	}
}

// TestRunWithCallers: CALLERS from the environment reaches the functions:
// the demo request, signed with the first caller's secret, is accepted and
// its events arrive signed with that caller's callback secret (the demo
// verifies them with it and exits 0 on nodepool.active).
func TestRunWithCallers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the stack")
	}
	env := map[string]string{"CALLERS": `[{"Id":"demo","Secrets":["whsec_ZGVtby1jYWxsZXItc2VjcmV0LTAwMDAwMDAwMDAwMA=="],` +
		`"CallbackSecret":"whsec_ZGVtby1jYWxsYmFjay1zZWNyZXQtMDAwMDAwMDAwMA==","Clusters":["eck-demo*"],"MaxDesiredSize":5}]`}
	var stdout, stderr testkit.SyncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := []string{"-http", "127.0.0.1:0", "-mns", "127.0.0.1:0", "-ens", "127.0.0.1:0", "-data", t.TempDir(),
		"-poll-interval", "1s", "-ens-provision", "1s", "-demo"}
	if err := run(ctx, args, func(k string) string { return env[k] }, &stdout, &stderr); err != nil {
		t.Fatalf("run -demo with CALLERS: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "demo: nodepool.active") || strings.Contains(stdout.String(), "WEBHOOK_SECRET=") {
		t.Errorf("stdout:\n%s", stdout.String())
	}
	if strings.Contains(stdout.String()+stderr.String(), "ZGVtby1j") {
		t.Error("a caller secret was printed")
	}
}

func TestRunRefusesBadCallers(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"both":    {"CALLERS": `[{"Id":"a","Clusters":["*"]}]`, "WEBHOOK_SECRET": "whsec_QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"},
		"invalid": {"CALLERS": `[{"Id":"a","Secrets":["whsec_c2hvcnQ="]}]`},
	} {
		var out bytes.Buffer
		err := run(context.Background(), []string{"-data", t.TempDir()}, func(k string) string { return env[k] }, &out, &out)
		if err == nil || strings.Contains(err.Error(), "c2hvcnQ") || strings.Contains(err.Error(), "QUFB") {
			t.Errorf("%s: run = %v", name, err)
		}
	}
}
