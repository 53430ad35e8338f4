// Package chatreply formats callback events as chat replies — a Slack
// response_url message, a DingTalk sessionWebhook markdown message, a
// Feishu/Lark reply — and holds the Feishu tenant-token client that posts
// them. Renderers plugs the platforms into the callback sender
// (callback.Config.Renderers), so the worker and the poller deliver chat
// results without linking the ChatOps front door (pkg/chatops), which
// answers commands with the same message types.
package chatreply

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/callbackurl"
)

// Platform names: the nodepool.Callback.Format and callback
// Delivery.Format of each chat platform's results.
const (
	Slack    = "slack"
	DingTalk = "dingtalk"
	Feishu   = "feishu"
)

// Default host names results may be posted to, per platform. A
// response_url, sessionWebhook or reply URL on any other host is refused.
var (
	DefaultSlackHosts    = []string{"hooks.slack.com"}
	DefaultDingTalkHosts = []string{"oapi.dingtalk.com", "api.dingtalk.com"}
)

// Feishu API bases: Feishu (China) and Lark (international).
const (
	FeishuAPIBase = "https://open.feishu.cn"
	LarkAPIBase   = "https://open.larksuite.com"
)

// SlackResponseURLTTL is how long a Slack response_url accepts posts
// ("up to 5 times within 30 minutes"); results after it are dropped to
// the dead-letter queue.
const SlackResponseURLTTL = 30 * time.Minute

// HostAllowed reports whether u's host is one of hosts (case-insensitive):
// the check on every URL a platform's results are posted to.
func HostAllowed(u *url.URL, hosts []string) bool {
	h := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	return slices.ContainsFunc(hosts, func(x string) bool { return strings.EqualFold(x, h) })
}

func refuseHost(u *url.URL, platform string) error {
	return fmt.Errorf("%w: %s results may not go to host %q", callbackurl.ErrRefused, platform, u.Hostname())
}

// ErrConfig reports an invalid FeishuClientConfig.
var ErrConfig = errors.New("chatreply: invalid configuration")

// RenderConfig configures Renderers.
type RenderConfig struct {
	// SlackHosts and DingTalkHosts are the hosts results may be posted
	// to; defaults DefaultSlackHosts and DefaultDingTalkHosts.
	SlackHosts, DingTalkHosts []string
	// ExtraHosts are added to every platform's list (tests and local
	// fakes only, e.g. "127.0.0.1").
	ExtraHosts []string
	// Feishu posts Feishu replies; nil leaves the feishu format unregistered
	// (its deliveries are refused).
	Feishu *FeishuClient
}

// Renderers returns the callback.Renderer of each platform, keyed by
// format, for callback.Config.Renderers.
func Renderers(cfg RenderConfig) map[string]callback.Renderer {
	if len(cfg.SlackHosts) == 0 {
		cfg.SlackHosts = DefaultSlackHosts
	}
	if len(cfg.DingTalkHosts) == 0 {
		cfg.DingTalkHosts = DefaultDingTalkHosts
	}
	out := map[string]callback.Renderer{
		Slack:    slackRenderer{hosts: append(slices.Clone(cfg.SlackHosts), cfg.ExtraHosts...)},
		DingTalk: dingTalkRenderer{hosts: append(slices.Clone(cfg.DingTalkHosts), cfg.ExtraHosts...)},
	}
	if cfg.Feishu != nil {
		out[Feishu] = feishuRenderer{c: cfg.Feishu, extra: cfg.ExtraHosts}
	}
	return out
}

// SlackMessage is the body posted to a response_url (and the immediate
// answer to a slash command).
type SlackMessage struct {
	// ResponseType is "in_channel" or "ephemeral".
	ResponseType string `json:"response_type"`
	// Text is mrkdwn text.
	Text string `json:"text"`
	// ReplaceOriginal false keeps the acknowledgement visible.
	ReplaceOriginal bool `json:"replace_original"`
}

// slackRenderer posts results to a slash command's response_url
// (https://api.slack.com/interactivity/handling#message_responses).
type slackRenderer struct{ hosts []string }

// Render implements callback.Renderer.
func (r slackRenderer) Render(_ context.Context, _ *http.Client, dest *url.URL, ev callback.Event) ([]byte, http.Header, error) {
	if !HostAllowed(dest, r.hosts) {
		return nil, nil, refuseHost(dest, "Slack")
	}
	b, err := json.Marshal(SlackMessage{ResponseType: "in_channel", Text: EventText(ev)})
	return b, http.Header{"Content-Type": {"application/json"}}, err
}

// Check implements callback.Renderer: Slack answers 404 "expired_url" or
// "used_url" once a response_url is spent.
func (slackRenderer) Check(status int, body []byte) error {
	s := string(body)
	if strings.Contains(s, "expired_url") || strings.Contains(s, "used_url") || status == http.StatusNotFound {
		return fmt.Errorf("%w: slack response_url: %s", callback.ErrGone, truncate(strings.TrimSpace(s), 64))
	}
	return nil
}

// DingTalkMessage is a DingTalk robot markdown message (the immediate
// answer to an outgoing-robot call and the body posted to a
// sessionWebhook).
type DingTalkMessage struct {
	MsgType  string `json:"msgtype"`
	Markdown struct {
		Title string `json:"title"`
		Text  string `json:"text"`
	} `json:"markdown"`
}

// NewDingTalkMessage returns a markdown message.
func NewDingTalkMessage(title, text string) DingTalkMessage {
	m := DingTalkMessage{MsgType: "markdown"}
	m.Markdown.Title, m.Markdown.Text = title, text
	return m
}

// dingTalkRenderer posts results to a sessionWebhook until it expires
// (the Delivery's ExpiresAt carries sessionWebhookExpiredTime).
type dingTalkRenderer struct{ hosts []string }

// Render implements callback.Renderer.
func (r dingTalkRenderer) Render(_ context.Context, _ *http.Client, dest *url.URL, ev callback.Event) ([]byte, http.Header, error) {
	if !HostAllowed(dest, r.hosts) {
		return nil, nil, refuseHost(dest, "DingTalk")
	}
	b, err := json.Marshal(NewDingTalkMessage(EventTitle(ev), EventText(ev)))
	return b, http.Header{"Content-Type": {"application/json; charset=utf-8"}}, err
}

// Check implements callback.Renderer: DingTalk answers 200 with
// {"errcode":0,"errmsg":"ok"}; any other errcode is retried (until the
// session expires).
func (dingTalkRenderer) Check(status int, body []byte) error {
	if status < 200 || status > 299 {
		return nil
	}
	var v struct {
		ErrCode *int   `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if json.Unmarshal(body, &v) == nil && v.ErrCode != nil && *v.ErrCode != 0 {
		return fmt.Errorf("dingtalk errcode %d: %s", *v.ErrCode, truncate(v.ErrMsg, 100))
	}
	return nil
}

// FeishuClient calls the Feishu/Lark open API as an app: it obtains and
// caches a tenant access token from the app id and secret
// (POST /open-apis/auth/v3/tenant_access_token/internal) and replies to
// messages (POST /open-apis/im/v1/messages/:message_id/reply). Safe for
// concurrent use.
type FeishuClient struct {
	base          *url.URL
	appID, secret string
	now           func() time.Time
	mu            sync.Mutex
	token         string
	expires       time.Time
}

// FeishuClientConfig configures a FeishuClient.
type FeishuClientConfig struct {
	// BaseURL is the API base; default FeishuAPIBase (LarkAPIBase for
	// Lark; a local fake in tests).
	BaseURL string
	// AppID and AppSecret are the app's credentials. Required.
	AppID, AppSecret string
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// NewFeishuClient returns a FeishuClient.
func NewFeishuClient(cfg FeishuClientConfig) (*FeishuClient, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = FeishuAPIBase
	}
	u, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
		return nil, fmt.Errorf("%w: Feishu BaseURL must be an absolute http(s) URL", ErrConfig)
	}
	if cfg.AppID == "" || cfg.AppSecret == "" {
		return nil, fmt.Errorf("%w: Feishu AppID and AppSecret are required", ErrConfig)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &FeishuClient{base: u, appID: cfg.AppID, secret: cfg.AppSecret, now: cfg.Now}, nil
}

// ReplyURL is where a reply to messageID is posted; it is the Callback.Url
// of a Feishu request.
func (c *FeishuClient) ReplyURL(messageID string) string {
	return c.base.String() + "/open-apis/im/v1/messages/" + url.PathEscape(messageID) + "/reply"
}

// isReplyURL reports whether u is a reply URL on the configured base.
func (c *FeishuClient) isReplyURL(u *url.URL, extra []string) bool {
	if !strings.EqualFold(u.Host, c.base.Host) && !HostAllowed(u, extra) {
		return false
	}
	rest, ok := strings.CutPrefix(u.EscapedPath(), c.base.EscapedPath()+"/open-apis/im/v1/messages/")
	id, ok2 := strings.CutSuffix(rest, "/reply")
	return ok && ok2 && id != "" && !strings.Contains(id, "/")
}

// feishuResult is the common answer envelope of the Feishu API.
type feishuResult struct {
	Code int    `json:"code"`
	Msg  string `json:"msg"`
}

// Token returns a cached tenant access token, fetching a new one with hc
// when none is valid for another 5 minutes.
func (c *FeishuClient) Token(ctx context.Context, hc *http.Client) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && c.now().Add(5*time.Minute).Before(c.expires) {
		return c.token, nil
	}
	body, _ := json.Marshal(map[string]string{"app_id": c.appID, "app_secret": c.secret})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base.String()+"/open-apis/auth/v3/tenant_access_token/internal", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("feishu token: %w", err)
	}
	defer resp.Body.Close()
	var v struct {
		feishuResult
		Token  string `json:"tenant_access_token"`
		Expire int    `json:"expire"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&v); err != nil || resp.StatusCode != http.StatusOK || v.Code != 0 || v.Token == "" {
		return "", fmt.Errorf("feishu token: HTTP %d code %d %s", resp.StatusCode, v.Code, truncate(v.Msg, 100))
	}
	c.token, c.expires = v.Token, c.now().Add(time.Duration(v.Expire)*time.Second)
	return c.token, nil
}

// forget drops a token the API rejected.
func (c *FeishuClient) forget() {
	c.mu.Lock()
	c.token = ""
	c.mu.Unlock()
}

// feishuTextBody is a reply of msg_type text.
func feishuTextBody(text string) []byte {
	content, _ := json.Marshal(map[string]string{"text": text})
	b, _ := json.Marshal(map[string]string{"msg_type": "text", "content": string(content)})
	return b
}

// Reply posts text as a reply to messageID with hc (use a guarded client,
// see callback.NewClient).
func (c *FeishuClient) Reply(ctx context.Context, hc *http.Client, messageID, text string) error {
	tok, err := c.Token(ctx, hc)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.ReplyURL(messageID), bytes.NewReader(feishuTextBody(text)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("feishu reply: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("feishu reply: HTTP %d", resp.StatusCode)
	}
	return c.check(b)
}

// check reads a Feishu answer: code 0 is success; token errors
// (99991661, 99991663, 99991668) drop the cached token.
func (c *FeishuClient) check(body []byte) error {
	var v feishuResult
	if err := json.Unmarshal(body, &v); err != nil {
		return errors.New("feishu: answer is not JSON")
	}
	if v.Code != 0 {
		switch v.Code {
		case 99991661, 99991663, 99991668:
			c.forget()
		}
		return errors.New("feishu code " + strconv.Itoa(v.Code) + ": " + truncate(v.Msg, 100))
	}
	return nil
}

// feishuRenderer posts results as replies to the command's message.
type feishuRenderer struct {
	c     *FeishuClient
	extra []string
}

// Render implements callback.Renderer: the reply URL must be on the
// configured API base; the tenant token is fetched with the Sender's
// guarded client.
func (r feishuRenderer) Render(ctx context.Context, hc *http.Client, dest *url.URL, ev callback.Event) ([]byte, http.Header, error) {
	if !r.c.isReplyURL(dest, r.extra) {
		return nil, nil, refuseHost(dest, "Feishu")
	}
	tok, err := r.c.Token(ctx, hc)
	if err != nil {
		return nil, nil, err
	}
	h := http.Header{"Content-Type": {"application/json; charset=utf-8"}, "Authorization": {"Bearer " + tok}}
	return feishuTextBody(EventText(ev)), h, nil
}

// Check implements callback.Renderer.
func (r feishuRenderer) Check(status int, body []byte) error {
	if status < 200 || status > 299 {
		return nil
	}
	return r.c.check(body)
}

// EventTitle is a short title for an event (DingTalk markdown title).
func EventTitle(ev callback.Event) string {
	return "nodepool " + strings.TrimPrefix(ev.Type, "nodepool.") + ": " + ev.Data.Name
}

// EventText renders a callback event as chat text.
func EventText(ev callback.Event) string {
	d := ev.Data
	pool := "Node pool `" + d.Name + "` in `" + d.ClusterId + "`"
	var s string
	switch ev.Type {
	case callback.TypeCreating:
		s = "⏳ " + pool + " is being created"
		if d.NodepoolId != "" {
			s += " (" + d.NodepoolId + ")"
		}
		s += "."
	case callback.TypeActive:
		s = "✅ " + pool + " is active"
		if st := d.Status; st != nil {
			s += ": " + strconv.Itoa(int(st.ServingNodes)) + "/" + strconv.Itoa(int(st.DesiredNodes)) + " nodes serving"
		}
		if d.NodepoolId != "" {
			s += " (" + d.NodepoolId + ")"
		}
		s += "."
	case callback.TypeFailed:
		s = "❌ " + pool + " failed"
	case callback.TypeTimeout:
		s = "⌛ " + pool + " did not become active in time"
	default:
		s = pool + ": " + ev.Type
	}
	if e := d.Error; e != nil && (ev.Type == callback.TypeFailed || ev.Type == callback.TypeTimeout) {
		msg := e.Code
		if e.Message != "" {
			msg += " — " + truncate(e.Message, 300)
		}
		s += ": " + Sentence(msg)
	} else if ev.Type == callback.TypeFailed || ev.Type == callback.TypeTimeout {
		s += "."
	}
	return s + " RequestId `" + d.RequestId + "`."
}

// Sentence ends s with a full stop unless it already ends with
// punctuation, so that no answer shows "..".
func Sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s[len(s)-1:], ".!?") || strings.HasSuffix(s, "…") || strings.HasSuffix(s, "。") {
		return s
	}
	return s + "."
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
