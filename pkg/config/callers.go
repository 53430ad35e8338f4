package config

import (
	"errors"
	"fmt"

	"github.com/ensnodepool/webhook/pkg/caller"
)

// EnvCallers is the CALLERS setting: the callers and their policies
// (pkg/caller), as inline JSON or the path of a JSON file (JSONValue). Unset is simple mode: WEBHOOK_SECRET alone, allowed everything.
const EnvCallers = "CALLERS"

// Callers reads CALLERS through getenv: nil in simple mode. Setting both
// CALLERS and WEBHOOK_SECRET is an error, as is any invalid entry (named by
// index and field; never a secret).
func Callers(getenv func(string) string) (*caller.Set, error) {
	e := NewEnv(getenv)
	set := callers(e, len(e.SecretList(EnvWebhookSecret, nil)) > 0)
	return set, e.Err()
}

// callers reads CALLERS through e; webhookSecret tells whether
// WEBHOOK_SECRET is set.
func callers(e *Env, webhookSecret bool) *caller.Set {
	v := e.String(EnvCallers, "")
	if v == "" {
		return nil
	}
	if webhookSecret {
		e.Fail(fmt.Errorf("%s and %s are both set: with callers, each caller's Secrets replace %s (unset it)",
			EnvCallers, EnvWebhookSecret, EnvWebhookSecret))
		return nil
	}
	set, err := ParseCallers(v)
	if err != nil {
		e.Fail(err)
		return nil
	}
	return set
}

// RequireCallersOrSecret reports an error unless CALLERS or WEBHOOK_SECRET
// names who may call the webhook.
func (s Settings) RequireCallersOrSecret() error {
	if s.Callers == nil && len(s.WebhookSecrets) == 0 {
		return errors.New(EnvWebhookSecret + " or " + EnvCallers + " is required")
	}
	return nil
}
