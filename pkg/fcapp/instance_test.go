package fcapp_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/dev/kmssim"
	"github.com/ensnodepool/webhook/pkg/fcadapter"
	"github.com/ensnodepool/webhook/pkg/fcapp"
)

const keyID, keySecret = "LTAI5tInstanceTest", "instance-test-secret"

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

// TestInstanceResolvesAndRefreshes: kms: references are resolved at start
// with the environment's credentials, plain values pass through, and after
// SECRETS_REFRESH a rotated secret rebuilds the app with the invocation's
// credentials; an unchanged secret does not.
func TestInstanceResolvesAndRefreshes(t *testing.T) {
	sim, err := kmssim.New(kmssim.Config{AccessKeyID: keyID, AccessKeySecret: keySecret,
		Secrets: map[string]string{"app/callback": "whsec_ZmNhcHAtdGVzdC1zZWNyZXQtb25lICAgLXBhZA=="}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()
	env := map[string]string{
		config.EnvCallbackSecret: "kms:app/callback", config.EnvWebhookSecret: "whsec_ZmNhcHAtdGVzdC1zZWNyZXQtcGxhaW4gLXBhZA==",
		config.EnvKMSEndpoint: strings.TrimPrefix(srv.URL, "http://"), config.EnvKMSProtocol: "HTTP",
		config.EnvSecretsRefresh: "1m", config.EnvAccessKeyID: keyID, config.EnvAccessKeySecret: keySecret,
	}
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	builds := 0
	inst, err := fcapp.NewInstance(t.Context(), fcapp.InstanceConfig{Getenv: func(k string) string { return env[k] }, Now: clk.Now},
		func(s config.Settings) (config.Settings, error) { builds++; return s, nil })
	if err != nil {
		t.Fatal(err)
	}
	// The invocation's own credentials sign the refresh.
	ctx := fcadapter.NewContext(context.Background(), fcadapter.Invocation{
		Credentials: fcadapter.Credentials{AccessKeyID: keyID, AccessKeySecret: keySecret, SecurityToken: "sts"}})
	s := inst.Get(ctx)
	if strings.Join(s.CallbackSecrets, ",") != "whsec_ZmNhcHAtdGVzdC1zZWNyZXQtb25lICAgLXBhZA==" || len(s.WebhookSecrets) != 1 || s.WebhookSecrets[0] != "whsec_ZmNhcHAtdGVzdC1zZWNyZXQtcGxhaW4gLXBhZA==" {
		t.Fatalf("settings: callback %q webhook %v", s.CallbackSecrets, s.WebhookSecrets)
	}
	sim.PutSecret("app/callback", "whsec_ZmNhcHAtdGVzdC1zZWNyZXQtdHdvICAgLXBhZA==")
	if strings.Join(inst.Get(ctx).CallbackSecrets, ",") != "whsec_ZmNhcHAtdGVzdC1zZWNyZXQtb25lICAgLXBhZA==" || sim.Calls() != 1 {
		t.Errorf("re-read before the period (%d calls)", sim.Calls())
	}
	clk.Add(time.Minute)
	if got := strings.Join(inst.Get(ctx).CallbackSecrets, ","); got != "whsec_ZmNhcHAtdGVzdC1zZWNyZXQtdHdvICAgLXBhZA==" || builds != 2 {
		t.Errorf("after the period: %q, %d builds", got, builds)
	}
	clk.Add(time.Minute)
	if got := strings.Join(inst.Get(ctx).CallbackSecrets, ","); got != "whsec_ZmNhcHAtdGVzdC1zZWNyZXQtdHdvICAgLXBhZA==" || builds != 2 || sim.Calls() != 3 {
		t.Errorf("unchanged secret: %q, %d builds, %d calls", got, builds, sim.Calls())
	}
}

func TestInstanceStartErrorsNameTheSetting(t *testing.T) {
	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"no credentials": {map[string]string{config.EnvSealKeys: "kms:app/seal", config.EnvKMSEndpoint: "127.0.0.1:1"}, "ALIBABA_CLOUD_ACCESS_KEY_ID"},
		"no endpoint":    {map[string]string{config.EnvSealKeys: "kms:app/seal"}, config.EnvKMSEndpoint},
		"unreachable": {map[string]string{config.EnvSealKeys: "kms:app/seal", config.EnvKMSEndpoint: "127.0.0.1:1", config.EnvKMSProtocol: "HTTP",
			config.EnvAccessKeyID: "a", config.EnvAccessKeySecret: "b"}, "SEAL_KEYS: secrets: reading app/seal"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := fcapp.NewInstance(t.Context(), fcapp.InstanceConfig{Getenv: func(k string) string { return tc.env[k] }},
				func(s config.Settings) (int, error) { return 0, nil })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to name %q", err, tc.want)
			}
		})
	}
}

// handlerApp is an App whose handler reports the settings it was built
// with and the FC request id its context carries.
type handlerApp struct{ s config.Settings }

func (a handlerApp) Handle(ctx context.Context, in string) (string, error) {
	return in + ":" + strings.Join(a.s.CallbackSecrets, ",") + ":" + fcadapter.RequestID(ctx), nil
}

// TestHandlerFollowsTheCurrentApp: the typed handler Main gives the
// runtime runs each invocation on the app current then, so a rotated
// secret is used without a restart, with the invocation in its context.
func TestHandlerFollowsTheCurrentApp(t *testing.T) {
	sim, err := kmssim.New(kmssim.Config{AccessKeyID: keyID, AccessKeySecret: keySecret, Secrets: map[string]string{"app/cb": "whsec_ZmNhcHAtdGVzdC1zZWNyZXQtb25lICAgLXBhZA=="}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()
	env := map[string]string{config.EnvCallbackSecret: "kms:app/cb", config.EnvKMSEndpoint: strings.TrimPrefix(srv.URL, "http://"),
		config.EnvKMSProtocol: "HTTP", config.EnvAccessKeyID: keyID, config.EnvAccessKeySecret: keySecret}
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	inst, err := fcapp.NewInstance(t.Context(), fcapp.InstanceConfig{Getenv: func(k string) string { return env[k] }, Now: clk.Now},
		func(s config.Settings) (handlerApp, error) { return handlerApp{s}, nil })
	if err != nil {
		t.Fatal(err)
	}
	var f fcapp.HandlerFunc[string, string] = fcapp.Handler(inst)
	ctx := fcadapter.NewContext(t.Context(), fcadapter.Invocation{RequestID: "fc-1"})
	if out, err := f(ctx, "a"); err != nil || out != "a:whsec_ZmNhcHAtdGVzdC1zZWNyZXQtb25lICAgLXBhZA==:fc-1" {
		t.Errorf("first call: %q %v", out, err)
	}
	sim.PutSecret("app/cb", "whsec_ZmNhcHAtdGVzdC1zZWNyZXQtdHdvICAgLXBhZA==")
	clk.Add(secretsDefaultRefresh)
	if out, _ := f(ctx, "b"); out != "b:whsec_ZmNhcHAtdGVzdC1zZWNyZXQtdHdvICAgLXBhZA==:fc-1" {
		t.Errorf("after rotation: %q", out)
	}
}

const secretsDefaultRefresh = 5 * time.Minute
