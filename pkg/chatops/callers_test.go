package chatops

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/caller"
	"github.com/ensnodepool/webhook/pkg/chatreply"
)

// chatCallers: portal-a is Slack user T0001/U2147483697 (the sample's),
// DingTalk staff "manager01" is team-b, whose policy allows one node.
func chatCallers(t *testing.T) *caller.Set {
	t.Helper()
	set, err := caller.Parse([]byte(`[
	 {"Id":"portal-a","Secrets":["whsec_Y2hhdG9wcy10ZXN0LXBvcnRhbC1hLXNlY3JldC0wMDA="],"Clusters":["eck-demo*"],"MaxDesiredSize":2,
	  "Chat":["slack:T0001/U2147483697"]},
	 {"Id":"team-b","Secrets":["whsec_Y2hhdG9wcy10ZXN0LXRlYW0tYi1zZWNyZXQtMDAwMDA="],"Clusters":["eck-demo0001"],"MaxDesiredSize":1,
	  "Chat":["slack:T0002/*","dingtalk:manager1234","feishu:ou_someoneelse"]}]`))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// slackForm is the sample slash command with fields replaced.
func slackForm(t *testing.T, set map[string]string) []byte {
	t.Helper()
	f, err := url.ParseQuery(string(readTestdata(t, "slack-command.form")))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range set {
		f.Set(k, v)
	}
	return []byte(f.Encode())
}

// TestChatCallers: a mapped Slack user creates as its caller (the
// envelope names it); an unmapped one, or one from another workspace, is
// refused politely with nothing queued; a command outside the caller's
// policy (a preset's or an option's value) is refused naming the rule;
// status is limited to the caller's clusters; every decision is audited.
func TestChatCallers(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	b := newHandler(t, func(c *Config) {
		c.Callers = chatCallers(t)
		c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	slackText := func(form map[string]string) string {
		w := serve(b.h, slackRequest(slackSecret, t0, slackForm(t, form)))
		var m chatreply.SlackMessage
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		return m.Text
	}

	if txt := slackText(nil); !strings.HasPrefix(txt, "Accepted") {
		t.Fatalf("mapped user: %q", txt)
	}
	envs := b.q.envelopes(t)
	if len(envs) != 1 || envs[0].Caller != "portal-a" {
		t.Fatalf("envelopes %+v", envs)
	}
	for _, form := range []map[string]string{
		{"user_id": "U999", "trigger_id": "t2"},
		{"team_id": "T0009", "trigger_id": "t3"},
	} {
		txt := slackText(form)
		if !strings.Contains(txt, "not allowed") || !strings.Contains(txt, "Nothing was queued") || strings.Contains(txt, "portal-a") {
			t.Errorf("unmapped %v: %q", form, txt)
		}
	}
	txt := slackText(map[string]string{"text": "create eck-demo0001 pool-b preset=small size=3", "trigger_id": "t4"})
	if !strings.Contains(txt, "size (ScalingGroup.DesiredSize) at most 2 for this caller (rule MaxDesiredSize)") {
		t.Errorf("over the cap: %q", txt)
	}
	txt = slackText(map[string]string{"text": "create eck-demo0001 pool-c preset=large", "team_id": "T0002", "trigger_id": "t5"})
	if !strings.Contains(txt, "rule MaxDesiredSize") {
		t.Errorf("preset over the cap (team wildcard user): %q", txt)
	}
	txt = slackText(map[string]string{"text": "status eck-other01 pool-a", "trigger_id": "t6"})
	if !strings.Contains(txt, "rule Clusters") {
		t.Errorf("status elsewhere: %q", txt)
	}
	if txt = slackText(map[string]string{"text": "status eck-demo0001 pool-a", "trigger_id": "t7"}); !strings.Contains(txt, "pool-a") || strings.Contains(txt, "Sorry") {
		t.Errorf("status in its cluster: %q", txt)
	}
	if n := len(b.q.envelopes(t)); n != 1 {
		t.Errorf("refusals queued: %d envelopes", n)
	}

	var got []string
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "audit" {
			got = append(got, m["Caller"].(string)+"/"+m["Source"].(string)+"/"+m["Action"].(string)+"/"+m["Decision"].(string))
		}
	}
	want := []string{"portal-a/slack/create/accepted", "/slack/create/denied", "/slack/create/denied",
		"portal-a/slack/create/denied", "team-b/slack/create/denied", "portal-a/slack/status/denied", "portal-a/slack/status/accepted"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("audit\n got %v\nwant %v", got, want)
	}
}

// TestChatCallersDingTalkFeishu: DingTalk staff ids and Feishu open_ids
// map the same way.
func TestChatCallersDingTalkFeishu(t *testing.T) {
	t.Parallel()
	b := newHandler(t, func(c *Config) { c.Callers = chatCallers(t) })
	body := readTestdata(t, "dingtalk-message.json") // manager1234 (team-b, max 1), size=2
	w := serve(b.h, dingTalkRequest(dingTalkSecret, t0, body))
	if !strings.Contains(w.Body.String(), "rule MaxDesiredSize") {
		t.Errorf("dingtalk over team-b's cap: %s", w.Body)
	}
	body = bytes.Replace(body, []byte("size=2"), []byte("size=1"), 1)
	w = serve(b.h, dingTalkRequest(dingTalkSecret, t0.Add(time.Millisecond), body))
	if envs := b.q.envelopes(t); len(envs) != 1 || envs[0].Caller != "team-b" {
		t.Fatalf("dingtalk: %s; envelopes %+v", w.Body, envs)
	}
	plain := readTestdata(t, "feishu-message.json") // ou_84aa… is nobody's
	serve(b.h, feishuRequest(t, feishuKey, t0, plain))
	b.reply.mu.Lock()
	defer b.reply.mu.Unlock()
	found := false
	for _, txt := range b.reply.replies {
		found = found || strings.Contains(txt, "feishu:ou_84aad35d084aa403a838cf73ee18467")
	}
	if !found || len(b.q.msgs) != 1 {
		t.Errorf("feishu unmapped: replies %v, %d queued", b.reply.replies, len(b.q.msgs))
	}
}

// TestChatSimpleMode: without CALLERS anyone who reaches the command may
// use it, as before, audited as the default caller.
func TestChatSimpleMode(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	b := newHandler(t, func(c *Config) { c.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) })
	serve(b.h, slackRequest(slackSecret, t0, slackForm(t, map[string]string{"user_id": "Uanyone"})))
	if envs := b.q.envelopes(t); len(envs) != 1 || envs[0].Caller != "" {
		t.Fatalf("envelopes %+v", envs)
	}
	if !strings.Contains(logs.String(), `"msg":"audit","Caller":"default","Source":"slack","Action":"create"`) {
		t.Errorf("audit: %s", logs.String())
	}
}

// TestChatInvalidAudited: a create the rules refuse is answered with every
// problem and audited as denied like the JSON API's, nothing queued.
func TestChatInvalidAudited(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	b := newHandler(t, func(c *Config) { c.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) })
	form := slackForm(t, map[string]string{"text": "create eck-demo0001 pool-x preset=small size=many disk=15"})
	w := serve(b.h, slackRequest(slackSecret, t0, form))
	var m chatreply.SlackMessage
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if !strings.Contains(m.Text, "size") || !strings.Contains(m.Text, "disk (ScalingGroup.SystemDiskSize)") {
		t.Errorf("answer %q: want both wrong options", m.Text)
	}
	if n := len(b.q.envelopes(t)); n != 0 {
		t.Errorf("%d envelopes queued", n)
	}
	if !strings.Contains(logs.String(), `"msg":"audit","Caller":"default","Source":"slack","Action":"create","ClusterId":"eck-demo0001","Name":"pool-x"`) ||
		!strings.Contains(logs.String(), `"Decision":"denied","Reason":"invalid: `) {
		t.Errorf("audit: %s", logs.String())
	}
}
