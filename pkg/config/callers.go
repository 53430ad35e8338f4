package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ensnodepool/webhook/pkg/caller"
)

// EnvCallers is the CALLERS setting: the callers and their policies
// (pkg/caller), as inline JSON (starting with "[") or the path of a JSON
// file. Unset is simple mode: WEBHOOK_SECRET alone, allowed everything.
const EnvCallers = "CALLERS"

// Callers reads CALLERS through getenv: nil in simple mode. Setting both
// CALLERS and WEBHOOK_SECRET is an error, as is any invalid entry (named by
// index and field; never a secret).
func Callers(getenv func(string) string) (*caller.Set, error) {
	v := strings.TrimSpace(getenv(EnvCallers))
	if v == "" {
		return nil, nil
	}
	if strings.TrimSpace(getenv(EnvWebhookSecret)) != "" {
		return nil, fmt.Errorf("%s and %s are both set: with callers, each caller's Secrets replace %s (unset it)",
			EnvCallers, EnvWebhookSecret, EnvWebhookSecret)
	}
	set, err := caller.Load(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvCallers, err)
	}
	return set, nil
}

// RequireCallersOrSecret reports an error unless CALLERS or WEBHOOK_SECRET
// names who may call the webhook.
func (s Settings) RequireCallersOrSecret() error {
	if s.Callers == nil && len(s.WebhookSecrets) == 0 {
		return errors.New(EnvWebhookSecret + " or " + EnvCallers + " is required")
	}
	return nil
}
