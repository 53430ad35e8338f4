package chatops

import (
	"errors"
	"testing"
	"time"
)

func TestSlackVerifier(t *testing.T) {
	t.Parallel()
	v, err := NewSlackVerifier(VerifierConfig{Secrets: []string{"old-secret", slackSecret}, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	body := readTestdata(t, "slack-command.form")
	tests := []struct {
		name string
		req  func() ([]byte, *requestT)
		want error
	}{
		{"valid", func() ([]byte, *requestT) { return body, wrap(slackRequest(slackSecret, t0, body)) }, nil},
		{"valid 4m59s old", func() ([]byte, *requestT) {
			return body, wrap(slackRequest(slackSecret, t0.Add(-299*time.Second), body))
		}, nil},
		{"expired", func() ([]byte, *requestT) {
			return body, wrap(slackRequest(slackSecret, t0.Add(-301*time.Second), body))
		}, ErrExpired},
		{"future", func() ([]byte, *requestT) { return body, wrap(slackRequest(slackSecret, t0.Add(6*time.Minute), body)) }, ErrExpired},
		{"wrong secret", func() ([]byte, *requestT) { return body, wrap(slackRequest("other", t0, body)) }, ErrMismatch},
		{"tampered body", func() ([]byte, *requestT) {
			return append([]byte("x"), body...), wrap(slackRequest(slackSecret, t0, body))
		}, ErrMismatch},
		{"missing headers", func() ([]byte, *requestT) {
			r := slackRequest(slackSecret, t0, body)
			r.Header.Del("X-Slack-Signature")
			return body, wrap(r)
		}, ErrMissing},
		{"v1 prefix", func() ([]byte, *requestT) {
			r := slackRequest(slackSecret, t0, body)
			r.Header.Set("X-Slack-Signature", "v1="+r.Header.Get("X-Slack-Signature")[3:])
			return body, wrap(r)
		}, ErrMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, r := tt.req()
			err := v.Verify(r.Request, b)
			if !errors.Is(err, tt.want) || (tt.want != nil && !errors.Is(err, ErrUnauthorized)) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDingTalkVerifier(t *testing.T) {
	t.Parallel()
	body := readTestdata(t, "dingtalk-message.json")
	tests := []struct {
		name   string
		secret string
		ts     time.Time
		mutate func(*requestT)
		want   error
	}{
		{"valid", dingTalkSecret, t0, nil, nil},
		{"rotated secret", "SECnew", t0, nil, nil},
		{"4 min old", dingTalkSecret, t0.Add(-4 * time.Minute), nil, nil},
		{"expired", dingTalkSecret, t0.Add(-5*time.Minute - time.Millisecond), nil, ErrExpired},
		{"an hour old (DingTalk's own window)", dingTalkSecret, t0.Add(-59 * time.Minute), nil, ErrExpired},
		{"wrong secret", "SECother", t0, nil, ErrMismatch},
		{"timestamp changed", dingTalkSecret, t0, func(r *requestT) { r.Header.Set("timestamp", "1777887600001") }, ErrMismatch},
		{"no sign", dingTalkSecret, t0, func(r *requestT) { r.Header.Del("sign") }, ErrMissing},
		{"seconds not ms", dingTalkSecret, t0, func(r *requestT) { r.Header.Set("timestamp", "1777887600") }, ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := NewDingTalkVerifier(VerifierConfig{Secrets: []string{dingTalkSecret, "SECnew"}, Now: fixedNow})
			if err != nil {
				t.Fatal(err)
			}
			r := wrap(dingTalkRequest(tt.secret, tt.ts, body))
			if tt.mutate != nil {
				tt.mutate(r)
			}
			if err := v.Verify(r.Request, body); !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestDingTalkReplayGuard: a timestamp+sign pair is accepted once, with
// any body; another pair is accepted; a full guard forgets expired pairs
// and refuses while all are live.
func TestDingTalkReplayGuard(t *testing.T) {
	t.Parallel()
	now := t0
	v, err := NewDingTalkVerifier(VerifierConfig{Secrets: []string{dingTalkSecret}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	body := readTestdata(t, "dingtalk-message.json")
	if err := v.Verify(dingTalkRequest(dingTalkSecret, t0, body), body); err != nil {
		t.Fatal(err)
	}
	other := []byte(`{"msgtype":"text","text":{"content":"create eck-x p size=99"}}`)
	if err := v.Verify(dingTalkRequest(dingTalkSecret, t0, other), other); !errors.Is(err, ErrReplayed) {
		t.Fatalf("replay with another command: %v", err)
	}
	if err := v.Verify(dingTalkRequest(dingTalkSecret, t0.Add(time.Millisecond), body), body); err != nil {
		t.Fatalf("fresh pair: %v", err)
	}
	v.maxSeen = 2
	if err := v.Verify(dingTalkRequest(dingTalkSecret, t0.Add(2*time.Millisecond), body), body); err == nil {
		t.Fatal("full guard accepted a new pair")
	}
	now = t0.Add(5*time.Minute + time.Second) // both recorded pairs left the window
	if err := v.Verify(dingTalkRequest(dingTalkSecret, now, body), body); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
}

// TestFeishuDecryptDocVector checks the example of Feishu's
// "Encrypt Key encryption configuration case" page: key "test key",
// ciphertext below, plaintext "hello world".
func TestFeishuDecryptDocVector(t *testing.T) {
	t.Parallel()
	got, err := FeishuDecrypt("test key", "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=")
	if err != nil || string(got) != "hello world" {
		t.Fatalf("FeishuDecrypt = %q, %v", got, err)
	}
	if _, err := FeishuDecrypt("wrong key", "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk="); err == nil {
		t.Log("a wrong key happened to produce valid padding (possible, rare)")
	}
}

func TestFeishuVerifier(t *testing.T) {
	t.Parallel()
	msg := readTestdata(t, "feishu-message.json")
	challenge := readTestdata(t, "feishu-challenge.json")
	enc, err := NewFeishuVerifier(FeishuConfig{VerificationTokens: []string{feishuToken}, EncryptKeys: []string{"old-key", feishuKey}, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	plainOnly, err := NewFeishuVerifier(FeishuConfig{VerificationTokens: []string{"old-token", feishuToken}, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		v      *FeishuVerifier
		req    func(t *testing.T) *requestT
		want   error
		wantIn string // a substring of the opened plaintext
	}{
		{"encrypted signed event", enc, func(t *testing.T) *requestT { return wrap(feishuRequest(t, feishuKey, t0, msg)) }, nil, "om_5ce6d572455d361153b7cb51da133945"},
		{"encrypted challenge, unsigned", enc, func(t *testing.T) *requestT {
			r := wrap(feishuRequest(t, feishuKey, t0, challenge))
			r.Header.Del("X-Lark-Signature")
			return r
		}, nil, "ajls384kdjx98XX"},
		{"encrypted event, unsigned", enc, func(t *testing.T) *requestT {
			r := wrap(feishuRequest(t, feishuKey, t0, msg))
			r.Header.Del("X-Lark-Signature")
			return r
		}, ErrMissing, ""},
		{"expired", enc, func(t *testing.T) *requestT { return wrap(feishuRequest(t, feishuKey, t0.Add(-2*time.Hour), msg)) }, ErrExpired, ""},
		{"wrong key", enc, func(t *testing.T) *requestT { return wrap(feishuRequest(t, "nope", t0, msg)) }, ErrMismatch, ""},
		{"plain body refused when encrypting", enc, func(t *testing.T) *requestT { return wrap(feishuRequest(t, "", t0, msg)) }, ErrMissing, ""},
		{"plain event, token ok", plainOnly, func(t *testing.T) *requestT { return wrap(feishuRequest(t, "", t0, msg)) }, nil, "im.message.receive_v1"},
		{"plain challenge", plainOnly, func(t *testing.T) *requestT { return wrap(feishuRequest(t, "", t0, challenge)) }, nil, "ajls384kdjx98XX"},
		{"plain bad token", plainOnly, func(t *testing.T) *requestT {
			return wrap(feishuRequest(t, "", t0, []byte(`{"challenge":"x","token":"forged","type":"url_verification"}`)))
		}, ErrMismatch, ""},
		{"encrypted bad token", enc, func(t *testing.T) *requestT {
			return wrap(feishuRequest(t, feishuKey, t0, []byte(`{"schema":"2.0","header":{"token":"forged","event_type":"x"}}`)))
		}, ErrMismatch, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := tt.req(t)
			plain, err := tt.v.Open(r.Request, bodyOf(t, r.Request))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open = %v, want %v", err, tt.want)
			}
			if tt.wantIn != "" && !contains(plain, tt.wantIn) {
				t.Fatalf("plaintext %s lacks %q", plain, tt.wantIn)
			}
		})
	}
}

func TestVerifierConfig(t *testing.T) {
	t.Parallel()
	if _, err := NewSlackVerifier(VerifierConfig{Secrets: []string{" "}}); !errors.Is(err, ErrConfig) {
		t.Errorf("blank secret: %v", err)
	}
	if _, err := NewDingTalkVerifier(VerifierConfig{}); !errors.Is(err, ErrConfig) {
		t.Errorf("no secret: %v", err)
	}
	if _, err := NewFeishuVerifier(FeishuConfig{EncryptKeys: []string{"k"}}); !errors.Is(err, ErrConfig) {
		t.Errorf("no token: %v", err)
	}
}
