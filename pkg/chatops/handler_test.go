package chatops

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/ensnodepool/webhook/pkg/chatreply"
	"github.com/ensnodepool/webhook/pkg/ens"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// fakeQueue records envelopes.
type fakeQueue struct {
	mu   sync.Mutex
	msgs []string
	err  error
}

func (q *fakeQueue) Send(_ context.Context, body string) (string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return "", q.err
	}
	q.msgs = append(q.msgs, body)
	return "m1", nil
}

func (q *fakeQueue) envelopes(t *testing.T) []*nodepool.Envelope {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []*nodepool.Envelope
	for _, m := range q.msgs {
		inner, _, err := nodepool.Unwrap([]byte(m))
		if err != nil {
			t.Fatal(err)
		}
		e, err := nodepool.Parse(inner)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

type fakePools []ens.NodePool

func (p fakePools) DescribeClusterNodePools(_ context.Context, id string) ([]ens.NodePool, error) {
	if id != "eck-demo0001" {
		return nil, ens.ErrNotFound
	}
	return p, nil
}

// fakeReplier records Feishu replies.
type fakeReplier struct {
	mu      sync.Mutex
	replies map[string]string
}

func (f *fakeReplier) Reply(_ context.Context, id, text string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.replies == nil {
		f.replies = map[string]string{}
	}
	f.replies[id] = text
	return nil
}

type handlerBundle struct {
	h     *Handler
	q     *fakeQueue
	reply *fakeReplier
}

func newHandler(t *testing.T, mod func(*Config)) *handlerBundle {
	t.Helper()
	sv, _ := NewSlackVerifier(VerifierConfig{Secrets: []string{slackSecret}, Now: fixedNow})
	dv, _ := NewDingTalkVerifier(VerifierConfig{Secrets: []string{dingTalkSecret}, Now: fixedNow})
	fv, _ := NewFeishuVerifier(FeishuConfig{VerificationTokens: []string{feishuToken}, EncryptKeys: []string{feishuKey}, Now: fixedNow})
	fc, err := chatreply.NewFeishuClient(chatreply.FeishuClientConfig{AppID: "cli_1", AppSecret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	b := &handlerBundle{q: &fakeQueue{}, reply: &fakeReplier{}}
	cfg := Config{
		Slack: sv, DingTalk: dv, Feishu: fv, FeishuClient: fc, FeishuReplier: b.reply,
		Presets: testPresets(t), Queue: b.q, Now: fixedNow,
		Pools: fakePools{{NodepoolInfo: ens.NodepoolInfo{Name: "pool-a", NodepoolId: "np-1"}, Status: ens.NodePoolStatus{State: "active", DesiredNodes: 2, ServingNodes: 2}}},
	}
	if mod != nil {
		mod(&cfg)
	}
	if b.h, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	return b
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestSlackCommand(t *testing.T) {
	t.Parallel()
	b := newHandler(t, nil)
	body := readTestdata(t, "slack-command.form")
	w := serve(b.h, slackRequest(slackSecret, t0, body))
	if w.Code != 200 {
		t.Fatalf("status %d %s", w.Code, w.Body)
	}
	var m chatreply.SlackMessage
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	envs := b.q.envelopes(t)
	if len(envs) != 1 {
		t.Fatalf("envelopes = %d", len(envs))
	}
	e := envs[0]
	if m.ResponseType != "in_channel" || !strings.Contains(m.Text, "RequestId `"+e.RequestId+"`") {
		t.Fatalf("ack = %+v, want in_channel with %s", m, e.RequestId)
	}
	cb := e.Request.Callback
	if e.Source != nodepool.SourceChatOps || cb == nil || cb.Url != "https://hooks.slack.com/commands/1234/5678" ||
		cb.Format != chatreply.Slack || !cb.ExpiresAt.Equal(t0.Add(chatreply.SlackResponseURLTTL)) {
		t.Fatalf("envelope = %+v callback %+v", e, cb)
	}
	if e.Request.ScalingGroup.DesiredSize != 2 || e.Request.NodepoolInfo.Name != "pool-a" {
		t.Fatalf("request = %+v", e.Request)
	}
	// The same trigger_id (a retry) gets the same RequestId.
	serve(b.h, slackRequest(slackSecret, t0, body))
	if envs := b.q.envelopes(t); envs[1].RequestId != e.RequestId {
		t.Fatalf("retry RequestId %s != %s", envs[1].RequestId, e.RequestId)
	}
	// Invalid and expired signatures: 401, nothing enqueued.
	for _, r := range []*http.Request{slackRequest("wrong", t0, body), slackRequest(slackSecret, t0.Add(-10*60e9), body)} {
		if w := serve(b.h, r); w.Code != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", w.Code)
		}
	}
	if n := len(b.q.envelopes(t)); n != 2 {
		t.Fatalf("envelopes = %d after rejected requests", n)
	}
}

func TestSlackAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, text, want, responseType string
		queueErr                       error
	}{
		{"help", "help", "Usage:", "ephemeral", nil},
		{"status", "status eck-demo0001 pool-a", "*active*, 2/2 nodes serving", "ephemeral", nil},
		{"status unknown pool", "status eck-demo0001 pool-z", "was not found in", "ephemeral", nil},
		{"status unknown cluster", "status eck-nope pool-a", "Cluster `eck-nope` was not found", "ephemeral", nil},
		{"invalid", "create eck-demo0001 pool-a preset=small size=500", "• size (ScalingGroup.DesiredSize) must be between 1 and 100", "ephemeral", nil},
		{"unreadable", "frobnicate", "unknown command `frobnicate`", "ephemeral", nil},
		{"queue down", "create eck-demo0001 pool-a preset=small", "queue is unavailable", "ephemeral", errors.New("down")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newHandler(t, nil)
			b.q.err = tt.queueErr
			body := []byte("command=%2Fnodepool&text=" + strings.ReplaceAll(tt.text, " ", "+") + "&response_url=https%3A%2F%2Fhooks.slack.com%2Fx&trigger_id=t1")
			w := serve(b.h, slackRequest(slackSecret, t0, body))
			var m chatreply.SlackMessage
			_ = json.Unmarshal(w.Body.Bytes(), &m)
			if w.Code != 200 || m.ResponseType != tt.responseType || !strings.Contains(m.Text, tt.want) {
				t.Fatalf("%d %+v, want %s containing %q", w.Code, m, tt.responseType, tt.want)
			}
		})
	}
}

func TestSlackForeignResponseURLNotUsed(t *testing.T) {
	t.Parallel()
	b := newHandler(t, nil)
	body := []byte("command=%2Fnodepool&text=create+eck-demo0001+pool-a+preset%3Dsmall&response_url=https%3A%2F%2Fevil.example%2Fx&trigger_id=t2")
	w := serve(b.h, slackRequest(slackSecret, t0, body))
	if !strings.Contains(w.Body.String(), "Results cannot be posted") {
		t.Fatalf("answer %s", w.Body)
	}
	if cb := b.q.envelopes(t)[0].Request.Callback; cb != nil {
		t.Fatalf("callback %+v, want none", cb)
	}
}

func TestDingTalkMessage(t *testing.T) {
	t.Parallel()
	b := newHandler(t, nil)
	body := readTestdata(t, "dingtalk-message.json")
	w := serve(b.h, dingTalkRequest(dingTalkSecret, t0, body))
	var m chatreply.DingTalkMessage
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil || w.Code != 200 || m.MsgType != "markdown" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	e := b.q.envelopes(t)[0]
	cb := e.Request.Callback
	if !strings.Contains(m.Markdown.Text, e.RequestId) || cb.Format != chatreply.DingTalk ||
		cb.Url != "https://oapi.dingtalk.com/robot/sendBySession?session=c4a9e5b3f2d1" || !cb.ExpiresAt.Equal(t0.Add(90*60e9)) {
		t.Fatalf("answer %q, callback %+v", m.Markdown.Text, cb)
	}
	if w := serve(b.h, dingTalkRequest(dingTalkSecret, t0.Add(-2*3600e9), body)); w.Code != http.StatusUnauthorized {
		t.Fatalf("expired: %d", w.Code)
	}
	if w := serve(b.h, dingTalkRequest("SECwrong", t0, body)); w.Code != http.StatusUnauthorized {
		t.Fatalf("wrong secret: %d", w.Code)
	}
}

func TestFeishuEventAndChallenge(t *testing.T) {
	t.Parallel()
	b := newHandler(t, nil)
	// Challenge: encrypted, unsigned, answered in the body.
	r := feishuRequest(t, feishuKey, t0, readTestdata(t, "feishu-challenge.json"))
	r.Header.Del("X-Lark-Signature")
	w := serve(b.h, r)
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"challenge":"ajls384kdjx98XX"}` {
		t.Fatalf("challenge: %d %s", w.Code, w.Body)
	}
	// Message event: 200 {} and a reply with the RequestId.
	w = serve(b.h, feishuRequest(t, feishuKey, t0, readTestdata(t, "feishu-message.json")))
	if w.Code != 200 {
		t.Fatalf("event: %d %s", w.Code, w.Body)
	}
	e := b.q.envelopes(t)[0]
	reply := b.reply.replies["om_5ce6d572455d361153b7cb51da133945"]
	if !strings.Contains(reply, e.RequestId) {
		t.Fatalf("reply %q lacks %s", reply, e.RequestId)
	}
	if cb := e.Request.Callback; cb.Format != chatreply.Feishu || cb.Url != "https://open.feishu.cn/open-apis/im/v1/messages/om_5ce6d572455d361153b7cb51da133945/reply" {
		t.Fatalf("callback %+v", cb)
	}
	if w := serve(b.h, feishuRequest(t, "wrong-key", t0, readTestdata(t, "feishu-message.json"))); w.Code != http.StatusUnauthorized {
		t.Fatalf("wrong key: %d", w.Code)
	}
	if w := serve(b.h, feishuRequest(t, feishuKey, t0.Add(-3*3600e9), readTestdata(t, "feishu-message.json"))); w.Code != http.StatusUnauthorized {
		t.Fatalf("expired: %d", w.Code)
	}
}

func TestUnconfiguredPlatformIs404(t *testing.T) {
	t.Parallel()
	b := newHandler(t, func(c *Config) { c.Slack, c.DingTalk, c.Feishu = nil, nil, nil })
	for _, p := range Paths {
		r := httptest.NewRequest(http.MethodPost, p, strings.NewReader("{}"))
		if w := serve(b.h, r); w.Code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, w.Code)
		}
	}
}
