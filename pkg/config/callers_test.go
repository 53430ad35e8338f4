package config

import (
	"errors"
	"strings"
	"testing"
)

func TestCallers(t *testing.T) {
	const sec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwAAAAAAAAAAA="
	valid := `[{"Id":"a","Clusters":["*"],"Secrets":["` + sec + `"]}]`
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	set, err := Callers(env(nil))
	if set != nil || err != nil {
		t.Errorf("unset: %v, %v (want simple mode)", set, err)
	}
	if set, err = Callers(env(map[string]string{EnvCallers: valid})); err != nil || set == nil {
		t.Fatalf("valid: %v", err)
	}
	if _, ok := set.Lookup("a"); !ok {
		t.Error("caller a missing")
	}
	_, err = Callers(env(map[string]string{EnvCallers: valid, EnvWebhookSecret: sec}))
	if err == nil || !strings.Contains(err.Error(), "both set") || strings.Contains(err.Error(), "MfKQ") {
		t.Errorf("both set: %v", err)
	}
	_, err = Callers(env(map[string]string{EnvCallers: `[{"Id":"a","Clusters":["*"],"Secrets":["whsec_` + strings.Repeat("Q", 8) + `"]}]`}))
	if err == nil || !strings.Contains(err.Error(), "CALLERS: invalid CALLERS: CALLERS[0].Secrets[0]") || strings.Contains(err.Error(), "QQQQQQQQ") {
		t.Errorf("invalid: %v", err)
	}
	s, _ := FromEnv(env(nil))
	if err := s.RequireCallersOrSecret(); err == nil {
		t.Error("neither set: no error")
	}
	s, err = FromEnv(env(map[string]string{EnvCallers: valid}))
	if err != nil || s.Callers == nil {
		t.Fatalf("FromEnv with CALLERS: %v", err)
	}
	if err := s.RequireCallersOrSecret(); err != nil {
		t.Error(err)
	}
	if _, err := FromEnv(env(map[string]string{EnvCallers: valid, EnvWebhookSecret: sec})); err == nil {
		t.Error("FromEnv accepted CALLERS with WEBHOOK_SECRET")
	}

	// Feishu identities are trusted only from signed events.
	feishu := `[{"Id":"a","Clusters":["*"],"Secrets":["` + sec + `"],"Chat":["slack:T1/U1","feishu:ou_1"]}]`
	_, err = FromEnv(env(map[string]string{EnvCallers: feishu}))
	if err == nil || !strings.Contains(err.Error(), "CALLERS[0].Chat[1] maps a Feishu identity, and FEISHU_ENCRYPT_KEY is not set") {
		t.Errorf("Feishu identity without the encrypt key: %v", err)
	}
	if _, err := FromEnv(env(map[string]string{EnvCallers: feishu, EnvFeishuEncryptKey: "k"})); err != nil {
		t.Errorf("with the encrypt key: %v", err)
	}
	// One object, or a byte order mark: recognised as inline JSON, never
	// printed.
	for name, v := range map[string]string{"object": strings.Trim(valid, "[]"), "BOM": "\uFEFF" + strings.Trim(valid, "[]")} {
		_, err := Callers(env(map[string]string{EnvCallers: v}))
		if err == nil || !strings.Contains(err.Error(), "want a list") || strings.Contains(err.Error(), "MfKQ") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if s, err := Callers(env(map[string]string{EnvCallers: "\uFEFF" + valid})); err != nil || s == nil {
		t.Errorf("a list after a BOM: %v", err)
	}
}

// TestEndpointsWithUserInfo: an endpoint holding user info is refused by
// name, never printed.
func TestEndpointsWithUserInfo(t *testing.T) {
	t.Parallel()
	const pw = "Pw-in-endpoint-9"
	for name, v := range map[string]string{
		EnvMNSEndpoint:   "https://ak:" + pw + "@123.mns.cn-hangzhou.aliyuncs.com",
		EnvENSEndpoint:   "ak:" + pw + "@ens.aliyuncs.com",
		EnvKMSEndpoint:   "ak:" + pw + "@kms.cn-hangzhou.aliyuncs.com",
		EnvPublicURL:     "https://ak:" + pw + "@hooks.example.com",
		EnvFeishuAPIBase: "https://ak:" + pw + "@open.feishu.cn",
	} {
		getenv := func(k string) string { return map[bool]string{true: v}[k == name] }
		_, err := FromEnv(getenv)
		_, serr := SecretsFromEnv(getenv)
		err = errors.Join(err, serr)
		if err == nil || !strings.Contains(err.Error(), name+": want") || strings.Contains(err.Error(), pw) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
