package testkit

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/ensnodepool/webhook/pkg/caller"
	"github.com/ensnodepool/webhook/pkg/dev/apicheck"
	"github.com/ensnodepool/webhook/pkg/dev/localstack"
)

// The API document (api/openapi.yaml) holds in every test that runs the
// stack: Start puts the webhook's HTTP trigger behind an apicheck.Checker,
// so every request any client sends and every answer is validated;
// NewReceiver and CallbackServer validate every callback the functions
// deliver against its "webhooks" entry. An exchange or callback the
// document does not describe fails the test when it ends.

// CheckStack returns cfg with a Checker on the webhook's HTTP trigger that
// fails tb, when it ends, with every exchange the document does not
// describe. Signatures are verified with the stack's secrets (the
// WebhookSecrets, or the callers' Secrets; with SecretsInKMS, where a test
// may rotate them, only their form). A Check already set is kept.
func CheckStack(tb testing.TB, cfg localstack.Config) localstack.Config {
	tb.Helper()
	if cfg.Check != nil {
		return cfg
	}
	c := apicheck.Config{CallbackSecrets: slices.Clone(cfg.CallbackSecrets)}
	if !cfg.SecretsInKMS {
		c.Secrets = slices.Clone(cfg.WebhookSecrets)
	}
	if cfg.Callers != "" {
		set, err := caller.Parse([]byte(cfg.Callers))
		if err != nil {
			tb.Fatalf("testkit: CALLERS: %v", err)
		}
		for _, cl := range set.Callers() {
			c.Secrets = append(c.Secrets, cl.Secrets...)
			if cl.CallbackSecret != "" {
				c.CallbackSecrets = append(c.CallbackSecrets, cl.CallbackSecret)
			}
		}
	}
	cfg.Check = apicheck.NewT(tb, c)
	return cfg
}

// NewReceiver starts a callback receiver (localstack.NewReceiver) that
// validates every callback against the document with cfg's secrets, and
// closes it when tb ends.
func NewReceiver(tb testing.TB, cfg localstack.ReceiverConfig) *localstack.Receiver {
	tb.Helper()
	if cfg.Check == nil {
		secrets := slices.Clone(cfg.Secrets)
		for _, s := range cfg.CallerSecrets {
			secrets = append(secrets, s)
		}
		cfg.Check = apicheck.NewT(tb, apicheck.Config{CallbackSecrets: secrets})
	}
	rcv, err := localstack.NewReceiver(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { rcv.Close() })
	return rcv
}

// CallbackServer serves h as a callback receiver, every callback validated
// against the document first (CheckCallbacks), and closes it when tb
// ends: for tests whose receiver answers its own way.
func CallbackServer(tb testing.TB, h http.Handler, secrets ...string) *httptest.Server {
	tb.Helper()
	srv := httptest.NewServer(CheckCallbacks(tb, secrets...)(h))
	tb.Cleanup(srv.Close)
	return srv
}

// CheckCallbacks returns a wrapper that validates every request to the
// handler it wraps as a callback against the document (signatures with
// secrets, if any; else their form), failing tb when it ends with each
// one the document does not describe.
func CheckCallbacks(tb testing.TB, secrets ...string) func(http.Handler) http.Handler {
	tb.Helper()
	return apicheck.NewT(tb, apicheck.Config{CallbackSecrets: secrets}).Receiver
}
