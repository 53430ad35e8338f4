package apicheck

import (
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/chatops"
)

// TestChatOpsMatchesDocument: the ChatOps routes, called as each platform
// calls them (its body format and signature headers), answer as the
// document describes, and so do their refusals.
func TestChatOpsMatchesDocument(t *testing.T) {
	t.Parallel()
	check := NewT(t, Config{})
	h := check.Handler(webhookFunction(t))
	now := time.Now()

	slackBody := "command=%2Fnodepool&text=help&team_id=T1&user_id=U1&trigger_id=t.1&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1%2F1%2Fx"
	slack := func(secret string) *http.Request {
		r := unsigned("POST", "/v1/chatops/slack", []byte(slackBody))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		ts := strconv.FormatInt(now.Unix(), 10)
		r.Header.Set("X-Slack-Request-Timestamp", ts)
		r.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(chatops.SlackSignature(secret, ts, []byte(slackBody))))
		return r
	}
	ding := func(ms int64) *http.Request {
		r := unsigned("POST", "/v1/chatops/dingtalk", []byte(`{"msgtype":"text","text":{"content":"nodepool help"},"msgId":"m`+
			strconv.FormatInt(ms, 10)+`","senderStaffId":"u1","conversationId":"c1"}`))
		ts := strconv.FormatInt(ms, 10)
		r.Header.Set("timestamp", ts)
		r.Header.Set("sign", base64.StdEncoding.EncodeToString(chatops.DingTalkSignature("dingtalk-secret", ts)))
		return r
	}
	feishu := func(body string) *http.Request { return unsigned("POST", "/v1/chatops/feishu", []byte(body)) }
	cases := []struct {
		name string
		req  *http.Request
		want int
	}{
		{"slack help", slack("slack-secret"), 200},
		{"slack with another secret", slack("other"), 401},
		{"dingtalk help", ding(now.UnixMilli()), 200},
		{"dingtalk too old", ding(now.Add(-time.Hour).UnixMilli()), 401},
		{"feishu challenge", feishu(`{"type":"url_verification","challenge":"c-1","token":"feishu-token"}`), 200},
		{"feishu message", feishu(`{"schema":"2.0","header":{"event_id":"e1","event_type":"im.message.receive_v1","token":"feishu-token"},` +
			`"event":{"sender":{"sender_id":{"open_id":"ou_1"}},"message":{"message_id":"om_1","message_type":"text","content":"{\"text\":\"nodepool help\"}"}}}`), 200},
		{"feishu wrong token", feishu(`{"type":"url_verification","challenge":"c-1","token":"nope"}`), 401},
		{"slack too large", func() *http.Request {
			r := slack("slack-secret")
			r.Body = readCloser([]byte(strings.Repeat("a", 65<<10)))
			return r
		}(), 413},
	}
	for _, c := range cases {
		if got := serve(h, c.req); got != c.want {
			t.Errorf("%s: status %d, want %d", c.name, got, c.want)
		}
	}
	if check.Checked() != len(cases) {
		t.Errorf("checked %d, want %d", check.Checked(), len(cases))
	}
}
