package config

import (
	"fmt"
	"slices"
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

// SecretSettings are the settings whose values are secrets, each of which
// may be "kms:<secret name>": those FromEnv reads as secrets.
func SecretSettings() []string {
	e := NewEnv(func(string) string { return "" })
	read(e)
	return e.SecretNames()
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
	e := NewEnv(getenv)
	src := readSecretSource(e)
	return src, e.Err()
}

// readSecretSource reads the SecretSource through e, every name whatever
// the values are (Names lists them).
func readSecretSource(e *Env) SecretSource {
	src := SecretSource{
		Refs:        map[string]string{},
		Region:      e.String(EnvENSRegion, ""),
		KMSProtocol: e.OneOf(EnvKMSProtocol, "HTTPS", "HTTPS", "HTTP"),
		KMSEndpoint: e.String(EnvKMSEndpoint, ""),
		Refresh:     e.Duration(EnvSecretsRefresh, DefaultSecretsRefresh),
	}
	if src.Refresh < time.Second {
		e.Want(EnvSecretsRefresh, "a duration of at least 1s like 5m")
		src.Refresh = DefaultSecretsRefresh
	}
	secret := SecretSettings()
	// Every setting: FromEnv's and those read above.
	for _, k := range slices.Compact(slices.Sorted(slices.Values(append(settingNames(), e.Names()...)))) {
		ref, ok := strings.CutPrefix(e.String(k, ""), SecretPrefix)
		switch {
		case !ok:
		case slices.Contains(secret, k):
			src.Refs[k] = strings.TrimSpace(ref)
		default:
			e.Fail(fmt.Errorf("%s: only secret settings may name a KMS secret", k))
		}
	}
	checkHostPort(e, EnvKMSEndpoint, src.KMSEndpoint, "kms.cn-hangzhou.aliyuncs.com (the scheme is "+EnvKMSProtocol+")")
	if src.KMSEndpoint == "" && src.Region != "" {
		src.KMSEndpoint = "kms." + src.Region + ".aliyuncs.com"
	}
	if len(src.Refs) > 0 && src.KMSEndpoint == "" {
		e.Fail(fmt.Errorf("%s (or %s) is required when a setting names a KMS secret", EnvKMSEndpoint, EnvENSRegion))
	}
	return src
}
