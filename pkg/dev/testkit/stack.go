package testkit

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/dev/localstack"
)

// Secrets are one test's inbound (Webhook) and outbound (Callback) secrets.
type Secrets struct{ Webhook, Callback string }

// NewSecrets makes fresh whsec_ secrets.
func NewSecrets(t testing.TB) Secrets {
	t.Helper()
	w, err := callback.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	c, err := callback.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return Secrets{Webhook: w, Callback: c}
}

// BuildBinaries builds the three functions once into a new temporary
// directory and returns it; remove it when done.
func BuildBinaries(ctx context.Context, moduleDir string) (string, error) {
	dir, err := os.MkdirTemp("", "testkit-bin-")
	if err != nil {
		return "", err
	}
	if _, err := localstack.Build(ctx, localstack.BuildOptions{ModuleDir: moduleDir, OutDir: dir}); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// Config is a stack on free loopback ports with short provisioning
// (1.5 s) and polling (400 ms), prebuilt binaries from binDir, the
// development key pair, debug logs to out.
func Config(dir, binDir string, sec Secrets, out *SyncBuffer) localstack.Config {
	return localstack.Config{
		HTTPAddr: "127.0.0.1:0", MNSAddr: "127.0.0.1:0", ENSAddr: "127.0.0.1:0",
		DataDir: dir, BinDir: binDir,
		PollInterval: 400 * time.Millisecond, ENSProvision: 1500 * time.Millisecond,
		WebhookSecrets: []string{sec.Webhook}, CallbackSecrets: []string{sec.Callback},
		AccessKeyID: localstack.DevAccessKeyID, AccessKeySecret: localstack.DevAccessKeySecret, SealKeys: localstack.DevSealKeys,
		BatchWindow: 500 * time.Millisecond,
		Backoff:     func(int) time.Duration { return 300 * time.Millisecond },
		LogLevel:    "debug",
		Output:      out,
	}
}

// Start starts a stack (30 s bound) and closes it when the test ends.
// Every exchange of its webhook is validated against the API document
// (CheckStack): one the document does not describe fails the test.
func Start(t testing.TB, cfg localstack.Config) *localstack.Stack {
	t.Helper()
	cfg = CheckStack(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := localstack.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("localstack.Start: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Template reads events/create-nodepool.json from the module.
func Template(t testing.TB, moduleDir string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(moduleDir, "events", "create-nodepool.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// DumpOnFailure logs the last 20 kB of out if the test failed, and writes
// all of it to the file named by TESTKIT_OUTPUT, if set.
func DumpOnFailure(t testing.TB, out *SyncBuffer) {
	t.Cleanup(func() {
		if t.Failed() {
			s := out.String()
			if p := os.Getenv("TESTKIT_OUTPUT"); p != "" {
				if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
					t.Log(err)
				}
			}
			if len(s) > 20000 {
				s = "…" + s[len(s)-20000:]
			}
			t.Logf("function output:\n%s", s)
		}
	})
}

// ByName groups callbacks: pool name → event type → webhook-id → deliveries.
func ByName(cs []localstack.Callback) map[string]map[string]map[string]int {
	m := map[string]map[string]map[string]int{}
	for _, c := range cs {
		Add(m, c.Event.Data.Name, c.Event.Type, c.ID)
	}
	return m
}

// Add counts one delivery of (name, type, id) in m (see ByName).
func Add(m map[string]map[string]map[string]int, name, typ, id string) {
	if m[name] == nil {
		m[name] = map[string]map[string]int{}
	}
	if m[name][typ] == nil {
		m[name][typ] = map[string]int{}
	}
	m[name][typ][id]++
}

// Get sends a GET signed with the webhook secret over its path (the
// webhook's signed content for GETs) and returns status and body.
func Get(ctx context.Context, url, secret string) (int, []byte, error) {
	signer, err := callback.NewSigner(secret)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	h, err := signer.Headers("msg_get"+strconv.FormatInt(time.Now().UnixNano(), 36), time.Now(), []byte(req.URL.EscapedPath()))
	if err != nil {
		return 0, nil, err
	}
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes(), err
}
