package config

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestFromEnvDefaults(t *testing.T) {
	t.Parallel()
	s, err := FromEnv(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if s.RequestsQueue != DefaultRequestsQueue || s.TrackingQueue != DefaultTrackingQueue || s.DeadLetterQueue != DefaultDeadLetterQueue {
		t.Errorf("queues = %q %q %q", s.RequestsQueue, s.TrackingQueue, s.DeadLetterQueue)
	}
	if s.ENSEndpoint != DefaultENSEndpoint || s.ENSProtocol != "HTTPS" || s.ENSWriteRate != 10 || s.ENSDescribeRate != 100 {
		t.Errorf("ens = %q %q %v %v", s.ENSEndpoint, s.ENSProtocol, s.ENSWriteRate, s.ENSDescribeRate)
	}
	if s.PollWatch != 55*time.Second || s.CallbackTimeout != 15*time.Second || s.CallbackRetry != nil || s.CallbackPerHost != 4 {
		t.Errorf("poll watch %v, callback timeout %v, retry %v, per host %d", s.PollWatch, s.CallbackTimeout, s.CallbackRetry, s.CallbackPerHost)
	}
	if s.PoolDeadline != time.Hour || s.PoolLateWatch != 24*time.Hour || s.LogLevel != slog.LevelInfo {
		t.Errorf("deadline %v late watch %v level %v", s.PoolDeadline, s.PoolLateWatch, s.LogLevel)
	}
	err = s.Require(EnvMNSEndpoint, EnvWebhookSecret, EnvCallbackSecret)
	for _, n := range []string{EnvMNSEndpoint, EnvWebhookSecret, EnvCallbackSecret} {
		if err == nil || !strings.Contains(err.Error(), n+" is required") {
			t.Errorf("Require on empty settings: %v, want %s named", err, n)
		}
	}
}

func TestFromEnvValues(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		EnvWebhookSecret:      "whsec_MDEyMzQ1Njc4OWFiY2RlZg==, whsec_ZmVkY2JhOTg3NjU0MzIxMA== ,",
		EnvCallbackSecret:     "whsec_AgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=,whsec_AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=",
		EnvPoolLateWatch:      "6h",
		EnvCallbackAllowCIDRs: "127.0.0.1/8, ::1/128",
		EnvCallbackAllowHTTP:  "true",
		EnvPoolDeadline:       "90m",
		EnvENSProtocol:        "http",
		EnvENSWriteRate:       "5",
		EnvPublicURL:          "https://x.example/",
		EnvPollWatch:          "20s",
		EnvCallbackTimeout:    "2s",
		EnvCallbackRetry:      "1s, 2s",
		EnvCallbackPerHost:    "8",
	}
	s, err := FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.WebhookSecrets, "|"); got != "whsec_MDEyMzQ1Njc4OWFiY2RlZg==|whsec_ZmVkY2JhOTg3NjU0MzIxMA==" {
		t.Errorf("secrets = %q", got)
	}
	if got := strings.Join(s.CallbackSecrets, "|"); got != "whsec_AgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=|whsec_AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=" || s.PoolLateWatch != 6*time.Hour {
		t.Errorf("callback secrets = %q, late watch %v", got, s.PoolLateWatch)
	}
	want := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	if len(s.CallbackAllow) != 2 || s.CallbackAllow[0] != want[0] || s.CallbackAllow[1] != want[1] {
		t.Errorf("allow = %v", s.CallbackAllow)
	}
	if !s.CallbackAllowHTTP || s.PoolDeadline != 90*time.Minute || s.ENSProtocol != "HTTP" || s.ENSWriteRate != 5 || s.PublicURL != "https://x.example" {
		t.Errorf("settings = %+v", s)
	}
	if s.PollWatch != 20*time.Second || s.CallbackTimeout != 2*time.Second || s.CallbackPerHost != 8 ||
		len(s.CallbackRetry) != 2 || s.CallbackRetry[0] != time.Second || s.CallbackRetry[1] != 2*time.Second {
		t.Errorf("poll watch %v, callback timeout %v, per host %d, retry %v", s.PollWatch, s.CallbackTimeout, s.CallbackPerHost, s.CallbackRetry)
	}
}

func TestFromEnvErrorsNameTheVariable(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		EnvENSWriteRate:       "fast",
		EnvENSDescribeRate:    "-1",
		EnvENSProtocol:        "ftp",
		EnvCallbackAllowHTTP:  "maybe",
		EnvCallbackAllowCIDRs: "10.0.0.1",
		EnvPoolDeadline:       "soon",
		EnvPoolLateWatch:      "forever",
		EnvPollFirst:          "0s",
		EnvPollMax:            "-1m",
		EnvLogLevel:           "loud",
		// Values the packages would refuse at wiring time with a Go
		// struct field's name are refused here with the variable's.
		EnvWebhookSecret:   "nope",
		EnvCallbackSecret:  "bad-secret",
		EnvSealKeys:        "k1:abc",
		EnvMNSEndpoint:     "127.0.0.1:9100/x",
		EnvENSEndpoint:     "http://ens.example",
		EnvPublicURL:       "not a url",
		EnvFeishuAPIBase:   "ftp://feishu.example",
		EnvPollWatch:       "always",
		EnvCallbackTimeout: "0s",
		EnvCallbackRetry:   "5s,never",
		EnvCallbackPerHost: "0",
	}
	for k, v := range tests {
		t.Run(k, func(t *testing.T) {
			t.Parallel()
			_, err := FromEnv(func(n string) string {
				if n == k {
					return v
				}
				return ""
			})
			if err == nil || !strings.Contains(err.Error(), k) {
				t.Fatalf("err = %v, want one naming %s", err, k)
			}
			if strings.Contains(err.Error(), "Config.") {
				t.Errorf("err = %v: names a Go struct field", err)
			}
			if secret := k == EnvWebhookSecret || k == EnvCallbackSecret || k == EnvSealKeys; secret && strings.Contains(err.Error(), v) {
				t.Errorf("err = %v: echoes a secret", err)
			}
		})
	}
}

func TestFromEnvChatOps(t *testing.T) {
	env := map[string]string{
		EnvSlackSigningSecret: "s1, s2",
		EnvDingTalkAppSecret:  "SECa",
		EnvFeishuToken:        "tok",
		EnvFeishuEncryptKey:   "k1,k2",
		EnvFeishuAppID:        "cli_1",
		EnvFeishuAppSecret:    "sec",
		EnvFeishuAPIBase:      "https://open.larksuite.com/",
		EnvChatOpsPresets:     `{"small":{}}`,
		EnvChatOpsAllowHosts:  "127.0.0.1",
	}
	s, err := FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if len(s.SlackSigningSecrets) != 2 || s.SlackSigningSecrets[1] != "s2" || len(s.DingTalkAppSecrets) != 1 ||
		len(s.FeishuEncryptKeys) != 2 || s.FeishuAPIBase != "https://open.larksuite.com" || s.ChatOpsPresets != `{"small":{}}` ||
		len(s.ChatOpsAllowHosts) != 1 || s.FeishuAppID != "cli_1" {
		t.Fatalf("settings = %+v", s)
	}
	delete(env, EnvFeishuAppSecret)
	if _, err := FromEnv(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), EnvFeishuAppSecret) {
		t.Fatalf("Feishu without app secret: %v", err)
	}
	s, _ = FromEnv(func(string) string { return "" })
	if s.FeishuAPIBase != DefaultFeishuAPIBase || s.SlackSigningSecrets != nil {
		t.Fatalf("defaults = %+v", s)
	}
}
