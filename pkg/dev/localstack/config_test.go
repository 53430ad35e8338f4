package localstack

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	good := Config{WebhookSecrets: []string{DevWebhookSecret}, CallbackSecrets: []string{DevCallbackSecret},
		AccessKeyID: DevAccessKeyID, AccessKeySecret: DevAccessKeySecret, SealKeys: DevSealKeys}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // substring of the error; "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"no webhook secret", func(c *Config) { c.WebhookSecrets = nil }, "WebhookSecrets"},
		{"webhook secret not whsec", func(c *Config) { c.WebhookSecrets = []string{"abc"} }, "WebhookSecrets[0]"},
		{"no callback secret", func(c *Config) { c.CallbackSecrets = nil }, "CallbackSecrets"},
		{"no key pair", func(c *Config) { c.AccessKeySecret = "" }, "AccessKeyID"},
		{"no seal keys", func(c *Config) { c.SealKeys = "" }, "SealKeys"},
		{"bad address", func(c *Config) { c.HTTPAddr = "9000" }, "HTTPAddr"},
		{"bad protocol", func(c *Config) { c.ENSProtocol = "ftp" }, "ENSProtocol"},
		{"negative duration", func(c *Config) { c.PollInterval = -time.Second }, "durations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mutate(&c)
			err := c.withDefaults().validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrConfig)):
				t.Fatalf("validate() = %v, want ErrConfig mentioning %q", err, tt.want)
			}
		})
	}
	c := good.withDefaults()
	if c.HTTPAddr != "127.0.0.1:9000" || c.MNSAddr != "127.0.0.1:9100" || c.ENSAddr != "127.0.0.1:9200" ||
		c.DataDir != ".localstack" || c.PollInterval != 10*time.Second || c.ENSProvision != 20*time.Second {
		t.Errorf("defaults = %+v, want docs/local.md's (\"Flags\")", c)
	}
}
