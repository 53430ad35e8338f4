package config

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// checkValues checks the shape of the settings the packages would
// otherwise reject at wiring time, so a wrong value is reported by its
// variable's name (never its value) rather than by a Go struct field.
// A secret setting that names a KMS secret ("kms:<name>") is checked
// once its value has been read (the caller runs FromEnv again then).
func (s Settings) checkValues(getenv func(string) string) []error {
	var errs []error
	bad := func(name, want string) { errs = append(errs, fmt.Errorf("%s: want %s", name, want)) }
	value := func(name string) bool { return !strings.HasPrefix(strings.TrimSpace(getenv(name)), SecretPrefix) }
	for i, sec := range s.WebhookSecrets {
		if !value(EnvWebhookSecret) {
			break
		}
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sec, "whsec_"))
		if err != nil || len(key) < 16 {
			bad(EnvWebhookSecret, fmt.Sprintf("whsec_<base64 of at least 16 bytes> in item %d of the comma-separated list", i+1))
		}
	}
	if v := strings.TrimSpace(getenv(EnvCallbackSecret)); v != "" && value(EnvCallbackSecret) {
		var secrets []string
		for _, sec := range strings.Split(v, ",") {
			if sec = strings.TrimSpace(sec); sec != "" {
				secrets = append(secrets, sec)
			}
		}
		if _, err := callback.NewSigner(secrets...); err != nil {
			bad(EnvCallbackSecret, "whsec_<base64 of 24 to 64 bytes> (comma-separated during rotation)")
		}
	}
	if s.SealKeys != "" && value(EnvSealKeys) {
		if _, err := nodepool.ParseKeys(s.SealKeys); err != nil {
			bad(EnvSealKeys, "kid:<base64 of 32 bytes>, comma-separated, the first seals")
		}
	}
	if s.MNSEndpoint != "" {
		u, err := url.Parse(s.MNSEndpoint)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
			bad(EnvMNSEndpoint, "http(s)://host[:port] without a path, e.g. https://<account-id>.mns.cn-hangzhou.aliyuncs.com")
		}
	}
	if strings.Contains(s.ENSEndpoint, "://") || strings.ContainsAny(s.ENSEndpoint, "/?# ") {
		bad(EnvENSEndpoint, "host[:port] without a scheme or path, e.g. ens.aliyuncs.com (the scheme is ENS_PROTOCOL)")
	}
	absolute := func(name, v string) {
		if v == "" {
			return
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
			bad(name, "an absolute http(s) URL such as https://example.com")
		}
	}
	absolute(EnvPublicURL, s.PublicURL)
	absolute(EnvFeishuAPIBase, s.FeishuAPIBase)
	return errs
}
