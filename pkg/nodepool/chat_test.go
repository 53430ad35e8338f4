package nodepool

import (
	"strings"
	"testing"
	"time"
)

// TestEnvelopeCarriesChatCallback: a chatops envelope round-trips its
// Callback.Format and ExpiresAt through Parse, while Decode (the JSON API)
// would reject them.
func TestEnvelopeCarriesChatCallback(t *testing.T) {
	t.Parallel()
	r := mustDecode(t, "ens-doc-example.json")
	r.ScalingGroup.Password = ""
	r.ScalingGroup.KeyPairName = "kp-demo"
	exp := time.Date(2026, 5, 4, 10, 30, 0, 0, time.UTC)
	r.Callback = &Callback{Url: "https://oapi.dingtalk.com/robot/sendBySession?session=abc", Format: "dingtalk", ExpiresAt: exp}
	if err := NewValidator(ValidationConfig{}).Validate(r); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	env, err := NewEnvelope(r, "req_abc", SourceChatOps, exp.Add(-time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"Format":"dingtalk","ExpiresAt":"2026-05-04T10:30:00Z"`) {
		t.Fatalf("envelope = %s", b)
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if cb := got.Request.Callback; cb.Format != "dingtalk" || !cb.ExpiresAt.Equal(exp) {
		t.Fatalf("Callback = %+v", cb)
	}
	// Without a chat callback the envelope is byte-identical to before.
	r.Callback = &Callback{Url: "https://example.com/cb"}
	env, _ = NewEnvelope(r, "req_abc", SourceWebhook, exp, nil)
	b, _ = env.Marshal()
	if strings.Contains(string(b), "Format") || strings.Contains(string(b), "ExpiresAt") {
		t.Fatalf("standard callback envelope mentions chat fields: %s", b)
	}
}
