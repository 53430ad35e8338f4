package chatreply

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/ens"
)

// t0 is the tests' clock.
var t0 = time.UnixMilli(1777887600000).UTC()

func fixedNow() time.Time { return t0 }

// fakeFeishu is the Feishu open API: tenant token and message reply.
type fakeFeishu struct {
	mu      sync.Mutex
	tokens  int
	replies []string // "<message_id> <auth> <body>"
}

func (f *fakeFeishu) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.URL.Path == "/open-apis/auth/v3/tenant_access_token/internal":
		var in struct{ AppID, AppSecret string }
		_ = json.Unmarshal(b, &struct {
			AppID     *string `json:"app_id"`
			AppSecret *string `json:"app_secret"`
		}{&in.AppID, &in.AppSecret})
		if in.AppID != "cli_1" || in.AppSecret != "app-secret" {
			_, _ = w.Write([]byte(`{"code":10014,"msg":"app secret invalid"}`))
			return
		}
		f.tokens++
		_, _ = w.Write([]byte(`{"code":0,"msg":"ok","tenant_access_token":"t-abc","expire":7200}`))
	case strings.HasPrefix(r.URL.Path, "/open-apis/im/v1/messages/") && strings.HasSuffix(r.URL.Path, "/reply"):
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/open-apis/im/v1/messages/"), "/reply")
		f.replies = append(f.replies, id+" "+r.Header.Get("Authorization")+" "+string(b))
		_, _ = w.Write([]byte(`{"code":0,"msg":"success","data":{}}`))
	default:
		http.NotFound(w, r)
	}
}

func activeEvent() callback.Event {
	return callback.Event{Type: callback.TypeActive, Timestamp: t0, Data: callback.EventData{
		RequestId: "req_1", ClusterId: "eck-demo0001", Name: "pool-a", NodepoolId: "np-1",
		Status: &ens.NodePoolStatus{State: "active", DesiredNodes: 2, ServingNodes: 2}}}
}

func TestRenderersThroughSender(t *testing.T) {
	t.Parallel()
	ff := &fakeFeishu{}
	api := httptest.NewServer(ff)
	t.Cleanup(api.Close)
	var dtMu sync.Mutex
	var dtBodies []string
	dt := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		dtMu.Lock()
		dtBodies = append(dtBodies, string(b))
		dtMu.Unlock()
		_, _ = w.Write([]byte(`{"errcode":0,"errmsg":"ok"}`))
	}))
	t.Cleanup(dt.Close)

	fc, err := NewFeishuClient(FeishuClientConfig{BaseURL: api.URL, AppID: "cli_1", AppSecret: "app-secret", Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	s, err := callback.NewDeliverer(callback.Config{Secrets: []string{"whsec_AgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="},
		AllowHTTP: true, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, Now: fixedNow,
		Renderers: Renderers(RenderConfig{Feishu: fc, ExtraHosts: []string{"127.0.0.1"}})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	try := func(url, format string, exp time.Time) callback.Attempt {
		d := callback.NewDelivery(url, activeEvent(), t0)
		d.Format, d.ExpiresAt = format, exp
		a, _ := s.Try(context.Background(), d)
		return a
	}

	// Feishu: token fetched once, cached, reply posted with it.
	for range 2 {
		if a := try(fc.ReplyURL("om_1"), Feishu, time.Time{}); a.Outcome != callback.Delivered {
			t.Fatalf("feishu: %+v", a)
		}
	}
	if ff.tokens != 1 || len(ff.replies) != 2 || !strings.HasPrefix(ff.replies[0], "om_1 Bearer t-abc ") ||
		!strings.Contains(ff.replies[0], `"msg_type":"text"`) || !strings.Contains(ff.replies[0], "is active") {
		t.Fatalf("feishu: tokens %d replies %q", ff.tokens, ff.replies)
	}
	// Feishu: a URL off the reply path is refused, nothing sent.
	if a := try(api.URL+"/open-apis/other", Feishu, time.Time{}); a.Outcome != callback.Refused {
		t.Fatalf("feishu other path: %+v", a)
	}
	// DingTalk: markdown to the session webhook until it expires.
	if a := try(dt.URL+"/robot/sendBySession?session=x", DingTalk, t0.Add(time.Minute)); a.Outcome != callback.Delivered {
		t.Fatalf("dingtalk: %+v", a)
	}
	if a := try(dt.URL+"/robot/sendBySession?session=x", DingTalk, t0); a.Outcome != callback.Gone {
		t.Fatalf("dingtalk expired: %+v", a)
	}
	if len(dtBodies) != 1 || !strings.Contains(dtBodies[0], `"msgtype":"markdown"`) || !strings.Contains(dtBodies[0], `"title":"nodepool active: pool-a"`) {
		t.Fatalf("dingtalk bodies %q", dtBodies)
	}
	// Hosts are allowlisted by name: without ExtraHosts, loopback is refused
	// even though the SSRF guard allows the address.
	strict := Renderers(RenderConfig{})
	for _, f := range []string{Slack, DingTalk} {
		u, _ := http.NewRequest("POST", dt.URL+"/x", nil)
		if _, _, err := strict[f].Render(context.Background(), nil, u.URL, activeEvent()); err == nil {
			t.Errorf("%s: loopback host accepted without ExtraHosts", f)
		}
		u, _ = http.NewRequest("POST", "https://"+map[string]string{Slack: "hooks.slack.com", DingTalk: "oapi.dingtalk.com"}[f]+"/x", nil)
		if _, _, err := strict[f].Render(context.Background(), nil, u.URL, activeEvent()); err != nil {
			t.Errorf("%s: platform host refused: %v", f, err)
		}
	}
}

// TestNewFeishuClientConfig: a base that is not an absolute http(s) URL, or
// a missing app id or secret, is ErrConfig naming the setting, not its value.
func TestNewFeishuClientConfig(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]FeishuClientConfig{
		"ftp base":  {BaseURL: "ftp://open.feishu.cn", AppID: "cli_1", AppSecret: "s3cret"},
		"relative":  {BaseURL: "/open-apis", AppID: "cli_1", AppSecret: "s3cret"},
		"no app id": {AppSecret: "s3cret"},
		"no secret": {AppID: "cli_1"},
	} {
		_, err := NewFeishuClient(cfg)
		if !errors.Is(err, ErrConfig) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: err = %v, want ErrConfig without the secret", name, err)
		}
	}
	c, err := NewFeishuClient(FeishuClientConfig{AppID: "cli_1", AppSecret: "s3cret"})
	if err != nil || c.ReplyURL("om_1") != FeishuAPIBase+"/open-apis/im/v1/messages/om_1/reply" {
		t.Errorf("default base: %v", err)
	}
}
