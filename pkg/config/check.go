package config

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// The checks below refuse, by the variable's name (never its value),
// values the packages would otherwise refuse at wiring time with a Go
// struct field's name.

// checkWebhookSecrets wants whsec_ secrets the verifier accepts.
func checkWebhookSecrets(secrets []string) (want string) {
	for i, sec := range secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sec, "whsec_"))
		if err != nil || len(key) < 16 {
			return fmt.Sprintf("whsec_<base64 of at least 16 bytes> in item %d of the comma-separated list", i+1)
		}
	}
	return ""
}

// checkCallbackSecrets wants secrets the callback signer accepts.
func checkCallbackSecrets(secrets []string) (want string) {
	if _, err := callback.NewSigner(secrets...); err != nil {
		return "whsec_<base64 of 24 to 64 bytes> (comma-separated during rotation)"
	}
	return ""
}

// checkSealKeys wants a sealing key list.
func checkSealKeys(v string) (want string) {
	if _, err := nodepool.ParseKeys(v); err != nil {
		return "kid:<base64 of 32 bytes>, comma-separated, the first seals"
	}
	return ""
}

// checkEndpoints checks the shape of MNS_ENDPOINT and ENS_ENDPOINT. An
// endpoint with user info ("user:password@host") is refused: credentials
// come from the RAM role or the key pair, and a value holding one must not
// reach a client that would print it in an error.
func checkEndpoints(e *Env, s Settings) {
	if s.MNSEndpoint != "" {
		u, err := url.Parse(s.MNSEndpoint)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
			strings.Contains(u.Host, "@") || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
			e.Want(EnvMNSEndpoint, "http(s)://host[:port] without user info or a path, e.g. https://<account-id>.mns.cn-hangzhou.aliyuncs.com")
		}
	}
	checkHostPort(e, EnvENSEndpoint, s.ENSEndpoint, "ens.aliyuncs.com (the scheme is "+EnvENSProtocol+")")
}

// checkHostPort wants v, when set, to be host[:port]: no scheme, user
// info, path, query or white space.
func checkHostPort(e *Env, name, v, example string) {
	if v != "" && (strings.Contains(v, "://") || strings.ContainsAny(v, "@/?#\\ \t")) {
		e.Want(name, "host[:port] without a scheme, user info or path, e.g. "+example)
	}
}
