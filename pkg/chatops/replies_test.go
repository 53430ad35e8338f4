package chatops

import (
	"cmp"
	"encoding/json"
	"flag"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/caller"
	"github.com/ensnodepool/webhook/pkg/chatreply"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
)

var update = flag.Bool("update", false, "rewrite testdata/replies.golden")

// TestRepliesGolden keeps every chat answer users see in
// testdata/replies.golden (go test ./pkg/chatops -run TestRepliesGolden
// -update rewrites it): help with and without a default preset and with
// none, a command with several wrong options (each reported), a password,
// options that are not numbers together with fields the validation
// rejects, and event texts whose messages end in punctuation. With the
// example caller of docs/callers.md (testdata/callers.json: ChargeTypes
// ["PostPaid"] and Slack identities): a preset without a charge type gets
// the policy's, charge= chooses (and is refused outside the policy),
// Slack's escaped mentions anywhere are ignored, and a Slack body without
// team_id is told what it lacks. A queued request is shown with its
// charge type. Every answer is also checked for doubled punctuation.
func TestRepliesGolden(t *testing.T) {
	withDefault := testPresets(t)
	withDefault[DefaultPreset] = withDefault["small"]
	callers, err := caller.Parse(readTestdata(t, "callers.json"))
	if err != nil {
		t.Fatal(err)
	}
	mapped := url.Values{"team_id": {"T0123"}, "user_id": {"U0456"}}
	cases := []struct {
		name    string
		presets Presets
		callers *caller.Set
		form    url.Values // fields beside command, text, response_url and trigger_id
		text    string
	}{
		{"help, presets without a default", nil, nil, nil, "help"},
		{"help, a default preset", withDefault, nil, nil, "help"},
		{"help, no presets", Presets{}, nil, nil, "help"},
		{"several wrong options", nil, nil, nil, "create eck-demo0001 pool-a preset=small colour=red size= size=2 size=3 --foo=1"},
		{"password", nil, nil, nil, "create eck-demo0001 pool-a preset=small password=Secret123!"},
		{"not numbers and invalid fields", nil, nil, nil, "create eck-demo0001 pool-a preset=small size=abc disk=big vsw=bad type=huge"},
		{"parse problems beside wrong numbers and fields", nil, nil, nil, "create eck-demo0001 pool-a preset=small colour=red password=x size=abc vsw=bad"},
		{"unknown command", nil, nil, nil, "frobnicate"},
		{"a bad charge type", nil, nil, nil, "create eck-demo0001 pool-a preset=small charge=monthly"},
		{"caller with ChargeTypes, a preset without one", nil, callers, mapped, "create eck-demo0001 pool-a preset=large"},
		{"caller with ChargeTypes, charge= outside them", nil, callers, mapped, "create eck-demo0001 pool-b preset=large charge=PrePaid"},
		{"caller with ChargeTypes, charge= in any case", nil, callers, mapped, "create eck-demo0001 pool-c preset=large chargetype=postpaid"},
		{"a leading Slack mention", nil, callers, mapped, "<@U0BOT123|nodepool> create eck-demo0001 pool-d preset=small"},
		{"Slack mentions anywhere", nil, callers, mapped, "create <@U0BOT123> eck-demo0001 pool-e <!here> preset=small @someone"},
		{"an unmapped Slack user", nil, callers, url.Values{"team_id": {"T0999"}, "user_id": {"U0999"}}, "create eck-demo0001 pool-f preset=small"},
		{"a Slack body without team_id", nil, callers, url.Values{"user_id": {"U0456"}}, "create eck-demo0001 pool-g preset=small"},
		{"dry run of a new pool", nil, nil, nil, "create eck-demo0001 pool-new preset=small dry-run"},
		{"dry run of a pool that exists with another spec", nil, nil, nil, "create eck-demo0001 pool-a preset=small --dry-run"},
		{"dry run of a status", nil, nil, nil, "status eck-demo0001 pool-a dry-run"},
	}
	var b strings.Builder
	for i, c := range cases {
		h := newHandler(t, func(cfg *Config) {
			if c.presets != nil {
				cfg.Presets = c.presets
			}
			cfg.Callers = c.callers
		})
		form := url.Values{"command": {"/nodepool"}, "text": {c.text}, "response_url": {"https://hooks.slack.com/x"},
			"trigger_id": {"t" + strconv.Itoa(i)}}
		for k, v := range c.form {
			form[k] = v
		}
		w := serve(h.h, slackRequest(slackSecret, t0, []byte(form.Encode())))
		var m chatreply.SlackMessage
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil || w.Code != 200 {
			t.Fatalf("%s: %d %s", c.name, w.Code, w.Body)
		}
		b.WriteString("### " + c.name + ": /nodepool " + c.text + "\n" + m.Text + "\n")
		envs := h.q.envelopes(t)
		if accepted := strings.HasPrefix(m.Text, "Accepted:"); accepted != (len(envs) == 1) || len(envs) > 1 {
			t.Errorf("%s: %d requests queued for the answer %q", c.name, len(envs), m.Text)
		}
		for _, e := range envs {
			r := e.Request
			b.WriteString("→ queued " + r.ClusterId + "/" + r.NodepoolInfo.Name + " for caller " + cmp.Or(e.Caller, "-") +
				", InstanceChargeType " + cmp.Or(r.ScalingGroup.InstanceChargeType, "-") + "\n")
		}
		b.WriteString("\n")
	}
	for _, id := range [][3]string{{caller.PlatformDingTalk, "", ""}, {caller.PlatformFeishu, "", ""}, {caller.PlatformDingTalk, "", "manager0002"}} {
		b.WriteString("### not mapped: " + id[0] + " user " + cmp.Or(id[2], "(none)") + "\n" + NotMappedText(id[0], id[1], id[2]) + "\n\n")
	}
	events := []callback.Event{
		{Type: callback.TypeFailed, Data: callback.EventData{RequestId: "req_1", ClusterId: "eck-demo0001", Name: "pool-a",
			Error: &callback.ErrorInfo{Code: "InvalidParameter", Message: "The specified parameter is invalid."}}},
		{Type: callback.TypeTimeout, Data: callback.EventData{RequestId: "req_1", ClusterId: "eck-demo0001", Name: "pool-a", NodepoolId: "np-1",
			Error: &callback.ErrorInfo{Code: "NodepoolTimeout", Message: "node pool np-1 was not active by its deadline 2026-05-04T10:00:00Z; still watched until 2026-05-05T10:00:00Z: nodepool.active or nodepool.failed follows if it gets there"}}},
		{Type: callback.TypeFailed, Data: callback.EventData{RequestId: "req_1", ClusterId: "eck-demo0001", Name: "pool-a"}},
	}
	for _, ev := range events {
		ev.Timestamp = t0.Add(time.Hour)
		b.WriteString("### event " + ev.Type + "\n" + chatreply.EventText(ev) + "\n\n")
	}
	got := b.String()
	if doubled := regexp.MustCompile(`[.!?…]\.|\.\s*[.!?]|::|;;|,,`).FindAllString(got, -1); len(doubled) > 0 {
		t.Errorf("doubled punctuation %q in:\n%s", doubled, got)
	}
	testkit.Golden(t, filepath.Join("testdata", "replies.golden"), []byte(got), *update)
}
