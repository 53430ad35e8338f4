package secrets_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/dev/kmssim"
	"github.com/ensnodepool/webhook/pkg/secrets"
)

const keyID, keySecret = "LTAI5tSecretsTest", "secrets-test-secret"

func startKMS(t *testing.T, seed map[string]string) (*kmssim.Server, *secrets.KMS) {
	t.Helper()
	sim, err := kmssim.New(kmssim.Config{AccessKeyID: keyID, AccessKeySecret: keySecret, Secrets: seed})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	k, err := secrets.NewKMS(secrets.KMSConfig{Endpoint: strings.TrimPrefix(srv.URL, "http://"), Protocol: "HTTP", RegionID: "cn-hangzhou"})
	if err != nil {
		t.Fatal(err)
	}
	return sim, k
}

var creds = secrets.Credentials{AccessKeyID: keyID, AccessKeySecret: keySecret, SecurityToken: "sts"}

func TestKMSReadsThroughTheSDK(t *testing.T) {
	t.Parallel()
	_, k := startKMS(t, map[string]string{"app/seal": "k1:c2VjcmV0"})
	ctx := t.Context()
	v, err := k.GetSecretValue(ctx, creds, "app/seal")
	if err != nil || v != "k1:c2VjcmV0" {
		t.Fatalf("GetSecretValue = %q, %v", v, err)
	}
	_, err = k.GetSecretValue(ctx, creds, "app/missing")
	if err == nil || !strings.Contains(err.Error(), "app/missing") || !strings.Contains(err.Error(), "Forbidden.ResourceNotFound") {
		t.Errorf("missing secret: %v", err)
	}
	bad := creds
	bad.AccessKeySecret = "wrong"
	if _, err := k.GetSecretValue(ctx, bad, "app/seal"); err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Errorf("wrong key: %v", err)
	}
	if _, err := k.GetSecretValue(ctx, secrets.Credentials{}, "app/seal"); err == nil {
		t.Error("no credentials accepted")
	}
	if _, err := secrets.NewKMS(secrets.KMSConfig{Protocol: "FTP"}); err == nil || !strings.Contains(err.Error(), "endpoint") || !strings.Contains(err.Error(), "FTP") {
		t.Errorf("bad config: %v", err)
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// failing wraps a Reader and fails while fail is set.
type failing struct {
	secrets.Reader
	fail bool
}

func (f *failing) GetSecretValue(ctx context.Context, cr secrets.Credentials, name string) (string, error) {
	if f.fail {
		return "", errors.New("KMS unreachable")
	}
	return f.Reader.GetSecretValue(ctx, cr, name)
}

// TestCacheRefreshesOnItsPeriod: one read per secret per period; a rotated
// value shows after the period; a failed refresh keeps the last values and
// is retried soon; plain settings pass through.
func TestCacheRefreshesOnItsPeriod(t *testing.T) {
	t.Parallel()
	sim, k := startKMS(t, map[string]string{"app/webhook": "whsec_a", "app/callback": "whsec_cb"})
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	r := &failing{Reader: k}
	c, err := secrets.NewCache(secrets.Config{
		Refs:   map[string]string{"WEBHOOK_SECRET": "app/webhook", "CALLBACK_SECRET": "app/callback", "SLACK_SIGNING_SECRET": "app/webhook"},
		Reader: r, Refresh: 5 * time.Minute, Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if !c.Due() {
		t.Fatal("a new cache is not due")
	}
	if changed, err := c.Load(ctx, creds); err != nil || !changed {
		t.Fatalf("first Load: %v %v", changed, err)
	}
	if n := sim.Calls(); n != 2 {
		t.Errorf("%d KMS calls for two secrets", n)
	}
	env := c.Getenv(func(k string) string {
		return map[string]string{"WEBHOOK_SECRET": "kms:app/webhook", "LOG_LEVEL": "info"}[k]
	})
	if env("WEBHOOK_SECRET") != "whsec_a" || env("SLACK_SIGNING_SECRET") != "whsec_a" || env("CALLBACK_SECRET") != "whsec_cb" || env("LOG_LEVEL") != "info" {
		t.Errorf("Getenv: %q %q %q %q", env("WEBHOOK_SECRET"), env("SLACK_SIGNING_SECRET"), env("CALLBACK_SECRET"), env("LOG_LEVEL"))
	}
	clk.Add(4 * time.Minute)
	if c.Due() {
		t.Error("due before the period")
	}
	sim.PutSecret("app/webhook", "whsec_b")
	clk.Add(time.Minute)
	if !c.Due() {
		t.Fatal("not due after the period")
	}
	r.fail = true
	if changed, err := c.Load(ctx, creds); err == nil || changed || strings.Contains(err.Error(), "whsec") {
		t.Fatalf("failed Load: changed %v, err %v", changed, err)
	}
	if c.Getenv(func(string) string { return "" })("WEBHOOK_SECRET") != "whsec_a" {
		t.Error("a failed refresh dropped the last good value")
	}
	if c.Due() {
		t.Error("due again right after a failure")
	}
	clk.Add(30 * time.Second)
	if !c.Due() {
		t.Error("not retried 30 s after a failure")
	}
	r.fail = false
	if changed, err := c.Load(ctx, creds); err != nil || !changed {
		t.Fatalf("Load after rotation: %v %v", changed, err)
	}
	if got := c.Getenv(func(string) string { return "" })("WEBHOOK_SECRET"); got != "whsec_b" {
		t.Errorf("after rotation WEBHOOK_SECRET = %q", got)
	}
	clk.Add(5 * time.Minute)
	if changed, err := c.Load(ctx, creds); err != nil || changed {
		t.Errorf("Load without rotation: changed %v, %v", changed, err)
	}
}

func TestCacheConfigErrors(t *testing.T) {
	t.Parallel()
	_, err := secrets.NewCache(secrets.Config{Refs: map[string]string{"SEAL_KEYS": "", "CALLBACK_SECRET": "a b"}})
	for _, want := range []string{"SEAL_KEYS", "CALLBACK_SECRET", "Reader"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
	c, err := secrets.NewCache(secrets.Config{})
	if err != nil || !c.Empty() || c.Due() {
		t.Errorf("empty cache: %v empty=%v due=%v", err, c.Empty(), c.Due())
	}
}
