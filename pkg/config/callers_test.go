package config

import (
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
}
