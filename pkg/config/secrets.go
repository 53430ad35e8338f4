package config

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Settings about where secret values come from. Any setting of
// SecretSettings may hold "kms:<secret name>" instead of a value.
const (
	// EnvKMSEndpoint is host[:port] of KMS; default kms.<ENS_REGION>.aliyuncs.com.
	EnvKMSEndpoint = "KMS_ENDPOINT"
	// EnvKMSProtocol is HTTPS (default) or HTTP (the local simulator).
	EnvKMSProtocol = "KMS_PROTOCOL"
	// EnvSecretsRefresh is how long secret values are used before they
	// are read again (a Go duration; default 5m).
	EnvSecretsRefresh = "SECRETS_REFRESH"
)

// SecretPrefix marks a setting that names a KMS secret.
const SecretPrefix = "kms:"

// DefaultSecretsRefresh is SECRETS_REFRESH's default.
const DefaultSecretsRefresh = 5 * time.Minute

// SecretSettings are the settings whose values are secrets; each may be
// "kms:<secret name>".
func SecretSettings() []string {
	return []string{EnvWebhookSecret, EnvCallbackSecret, EnvSealKeys, EnvSlackSigningSecret, EnvDingTalkAppSecret,
		EnvFeishuToken, EnvFeishuEncryptKey, EnvFeishuAppSecret}
}

// SecretSource says which settings name a KMS secret and how to read them.
type SecretSource struct {
	// Refs maps a setting to the secret holding its value.
	Refs map[string]string
	// KMSEndpoint and KMSProtocol reach KMS; Region is the secrets' region.
	KMSEndpoint, KMSProtocol, Region string
	// Refresh is how long values are used before they are read again.
	Refresh time.Duration
}

// SecretsFromEnv reads the secret references and the KMS settings. A
// reference that is not in SecretSettings is an error (a non-secret
// setting is never looked up), as is a reference without a way to reach
// KMS.
func SecretsFromEnv(getenv func(string) string) (SecretSource, error) {
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	src := SecretSource{Refs: map[string]string{}, Region: get(EnvENSRegion), Refresh: DefaultSecretsRefresh,
		KMSProtocol: strings.ToUpper(get(EnvKMSProtocol))}
	var errs []error
	for _, k := range SecretSettings() {
		if v := get(k); strings.HasPrefix(v, SecretPrefix) {
			src.Refs[k] = strings.TrimSpace(strings.TrimPrefix(v, SecretPrefix))
		}
	}
	for _, k := range Names() {
		if _, ok := src.Refs[k]; !ok && strings.HasPrefix(get(k), SecretPrefix) {
			errs = append(errs, fmt.Errorf("%s: only secret settings may name a KMS secret", k))
		}
	}
	if v := get(EnvSecretsRefresh); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			errs = append(errs, fmt.Errorf("%s: want a duration of at least 1s such as 5m", EnvSecretsRefresh))
		} else {
			src.Refresh = d
		}
	}
	if src.KMSProtocol == "" {
		src.KMSProtocol = "HTTPS"
	}
	if src.KMSProtocol != "HTTPS" && src.KMSProtocol != "HTTP" {
		errs = append(errs, fmt.Errorf("%s: want HTTPS or HTTP", EnvKMSProtocol))
	}
	src.KMSEndpoint = get(EnvKMSEndpoint)
	if src.KMSEndpoint == "" && src.Region != "" {
		src.KMSEndpoint = "kms." + src.Region + ".aliyuncs.com"
	}
	if len(src.Refs) > 0 && src.KMSEndpoint == "" {
		errs = append(errs, fmt.Errorf("%s (or %s) is required when a setting names a KMS secret", EnvKMSEndpoint, EnvENSRegion))
	}
	return src, errors.Join(errs...)
}
