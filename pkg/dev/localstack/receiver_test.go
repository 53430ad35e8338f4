package localstack_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/chatreply"
	"github.com/ensnodepool/webhook/pkg/dev/localstack"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
)

// TestReceiver: signed callbacks are accepted and returned in order by
// Next (a redelivery marked Duplicate); one signed with another secret is
// refused and counted.
func TestReceiver(t *testing.T) {
	sec := testkit.NewSecrets(t)
	rcv, err := localstack.NewReceiver(localstack.ReceiverConfig{Secrets: []string{sec.Callback}})
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Close()
	ev := callback.Event{Type: callback.TypeActive, Timestamp: time.Now().UTC(), Data: callback.EventData{Name: "p"}}
	body, _ := json.Marshal(ev)
	post := func(secret, id string) int {
		t.Helper()
		s, err := callback.NewSigner(secret)
		if err != nil {
			t.Fatal(err)
		}
		h, err := s.Headers(id, time.Now(), body)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPost, rcv.URL(), strings.NewReader(string(body)))
		req.Header = h
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post(sec.Callback, "msg_1"); got != http.StatusOK {
		t.Errorf("signed: %d, want 200", got)
	}
	if got := post(sec.Callback, "msg_1"); got != http.StatusOK {
		t.Errorf("redelivery: %d, want 200", got)
	}
	if got := post(sec.Webhook, "msg_2"); got != http.StatusUnauthorized {
		t.Errorf("other secret: %d, want 401", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c1, err := rcv.Next(ctx)
	if err != nil || c1.ID != "msg_1" || c1.Duplicate || c1.Event.Type != callback.TypeActive {
		t.Errorf("first = %+v, %v", c1, err)
	}
	c2, err := rcv.Next(ctx)
	if err != nil || !c2.Duplicate {
		t.Errorf("second = %+v, %v; want a duplicate", c2, err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if _, err := rcv.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Next on empty = %v, want deadline exceeded", err)
	}
	if n := rcv.Rejected(); n != 1 {
		t.Errorf("Rejected = %d, want 1", n)
	}
}

func TestReceiverRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", "example.com:80", "9300"} {
		if r, err := localstack.NewReceiver(localstack.ReceiverConfig{Addr: addr, Secrets: []string{localstack.DevCallbackSecret}}); err == nil {
			r.Close()
			t.Errorf("NewReceiver(Addr %q) = nil error, want a refusal", addr)
		} else if !errors.Is(err, localstack.ErrConfig) {
			t.Errorf("NewReceiver(Addr %q) = %v, want ErrConfig", addr, err)
		}
	}
}

// TestReceiverPrints: with Print and AcceptAll (scripts/local -receiver)
// every POST is answered 200 and printed with its path and body, saying
// whether a Standard Webhooks signature verified with the callback
// secrets or a caller's; only verified callbacks are recorded.
func TestReceiverPrints(t *testing.T) {
	var out testkit.SyncBuffer
	const portalSecret = "whsec_cG9ydGFsLWEtY2FsbGJhY2stc2VjcmV0LTAxMjM="
	rcv, err := localstack.NewReceiver(localstack.ReceiverConfig{Secrets: []string{localstack.DevCallbackSecret},
		CallerSecrets: map[string]string{"portal-a": portalSecret}, Print: &out, AcceptAll: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Close()
	post := func(path string, h http.Header, body string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, "http://"+rcv.Addr()+path, strings.NewReader(body))
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("POST %s: %d, want 200", path, resp.StatusCode)
		}
	}
	sign := func(secret, id, body string) http.Header {
		t.Helper()
		s, err := callback.NewSigner(secret)
		if err != nil {
			t.Fatal(err)
		}
		h, err := s.Headers(id, time.Now(), []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	ev := `{"type":"nodepool.active","timestamp":"2026-01-02T03:04:05Z","data":{"Name":"p"}}`
	good := sign(localstack.DevCallbackSecret, "msg_1", `{"a":1}`)
	post("/slack", nil, `{"text":"hi"}`)
	post("/cb", good, `{"a":1}`)
	post("/cb", good, `{"a":2}`)
	post("/cb", sign(portalSecret, "msg_2", `{"a":3}`), `{"a":3}`)
	post("/cb", sign(localstack.DevCallbackSecret, "msg_3", ev), ev)
	for _, want := range []string{
		"receiver: POST /slack {\"text\":\"hi\"}\n",
		"receiver: POST /cb (signature verified) {\"a\":1}\n",
		"receiver: POST /cb (signature NOT verified: ",
		"receiver: POST /cb (signature verified with caller portal-a's CallbackSecret) {\"a\":3}\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if got := rcv.Received(); len(got) != 3 || got[2].ID != "msg_3" || got[2].Event.Type != callback.TypeActive {
		t.Errorf("Received = %+v, want the three verified posts, the last one nodepool.active", got)
	}
	if n := rcv.Rejected(); n != 0 {
		t.Errorf("Rejected = %d with AcceptAll, want 0", n)
	}
}

// TestReceiverFeishuAndSecrets: with Feishu the receiver stands in for
// Feishu's open API — the official reply client (chatreply.FeishuClient)
// gets a tenant token from it and its reply is answered with success and
// printed — and nothing it prints holds a secret it received: not the
// app_secret of the token call, not any member or form field named like a
// secret, at any depth or inside a string that holds JSON; a body that is
// neither JSON nor a form is shown only by its size.
func TestReceiverFeishuAndSecrets(t *testing.T) {
	var out testkit.SyncBuffer
	rcv, err := localstack.NewReceiver(localstack.ReceiverConfig{Secrets: []string{localstack.DevCallbackSecret},
		Print: &out, AcceptAll: true, Feishu: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Close()
	const appSecret = "feishu-app-secret-Zq81"
	fc, err := chatreply.NewFeishuClient(chatreply.FeishuClientConfig{BaseURL: "http://" + rcv.Addr(), AppID: "cli_local", AppSecret: appSecret})
	if err != nil {
		t.Fatal(err)
	}
	if err := fc.Reply(context.Background(), http.DefaultClient, "om_1", "Accepted: creating node pool"); err != nil {
		t.Fatalf("Feishu reply through the receiver: %v\n%s", err, out.String())
	}
	post := func(ct, body string) {
		t.Helper()
		resp, err := http.Post("http://"+rcv.Addr()+"/x", ct, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	post("application/json", `{"a":{"AccessKeySecret":"ak-secret-Zq82","list":[{"token":"tok-Zq83"}]},"inner":"{\"Password\":\"pw-Zq84\"}","KeyPairName":"kp"}`)
	post("application/x-www-form-urlencoded", "token=slack-token-Zq85&text=create&sign=dt-sign-Zq86")
	post("text/plain", "secret=plain-Zq87")
	for _, want := range []string{
		`receiver: POST /open-apis/auth/v3/tenant_access_token/internal (Feishu tenant access token issued) {"app_id":"cli_local","app_secret":"******"}` + "\n",
		`receiver: POST /open-apis/im/v1/messages/om_1/reply (Feishu reply) {"content":"{\"text\":\"Accepted: creating node pool\"}","msg_type":"text"}` + "\n",
		`"KeyPairName":"kp"`,
		"sign=%2A%2A%2A%2A%2A%2A&text=create&token=%2A%2A%2A%2A%2A%2A",
		"receiver: POST /x (17 bytes of text/plain, not shown)\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "Zq8") {
		t.Errorf("a secret was printed:\n%s", out.String())
	}
}
