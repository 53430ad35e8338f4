package config

import (
	"strings"
	"testing"
	"time"
)

func TestSecretsFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, tc := range []struct {
		name    string
		env     map[string]string
		refs    map[string]string
		ep      string
		refresh time.Duration
		errs    []string
	}{
		{name: "plain values", env: map[string]string{EnvWebhookSecret: "whsec_x"}, refs: map[string]string{}, refresh: DefaultSecretsRefresh},
		{name: "references with the region's endpoint",
			env:  map[string]string{EnvWebhookSecret: "kms:app/webhook", EnvSealKeys: " kms: app/seal ", EnvENSRegion: "cn-beijing", EnvSecretsRefresh: "90s"},
			refs: map[string]string{EnvWebhookSecret: "app/webhook", EnvSealKeys: "app/seal"}, ep: "kms.cn-beijing.aliyuncs.com", refresh: 90 * time.Second},
		{name: "explicit endpoint", env: map[string]string{EnvFeishuAppSecret: "kms:f", EnvKMSEndpoint: "127.0.0.1:1", EnvKMSProtocol: "http"},
			refs: map[string]string{EnvFeishuAppSecret: "f"}, ep: "127.0.0.1:1", refresh: DefaultSecretsRefresh},
		{name: "errors", env: map[string]string{EnvCallbackSecret: "kms:cb", EnvPublicURL: "kms:url", EnvSecretsRefresh: "1ms", EnvKMSProtocol: "ftp"},
			errs: []string{EnvPublicURL, EnvSecretsRefresh, EnvKMSProtocol, EnvKMSEndpoint}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := SecretsFromEnv(env(tc.env))
			if len(tc.errs) > 0 {
				for _, w := range tc.errs {
					if err == nil || !strings.Contains(err.Error(), w) {
						t.Errorf("error %v does not name %s", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(src.Refs) != len(tc.refs) {
				t.Errorf("refs %v, want %v", src.Refs, tc.refs)
			}
			for k, v := range tc.refs {
				if src.Refs[k] != v {
					t.Errorf("refs %v, want %v", src.Refs, tc.refs)
				}
			}
			if src.KMSEndpoint != tc.ep || src.Refresh != tc.refresh {
				t.Errorf("endpoint %q refresh %v", src.KMSEndpoint, src.Refresh)
			}
		})
	}
}

func TestPublicURLWithoutHostIsUnset(t *testing.T) {
	for v, want := range map[string]string{"https://": "", "http://": "", "https://hook.example.com/": "https://hook.example.com", "": ""} {
		s, err := FromEnv(func(k string) string { return map[string]string{EnvPublicURL: v}[k] })
		if err != nil || s.PublicURL != want {
			t.Errorf("PUBLIC_URL=%q: %q, %v; want %q", v, s.PublicURL, err, want)
		}
	}
}
