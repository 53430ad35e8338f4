package chatops

import (
	"encoding/json"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/chatreply"
)

var update = flag.Bool("update", false, "rewrite testdata/replies.golden")

// TestRepliesGolden keeps every chat answer users see in
// testdata/replies.golden (go test ./pkg/chatops -run TestRepliesGolden
// -update rewrites it): help with and without a default preset and with
// none, a command with several wrong options (each reported), a password,
// options that are not numbers together with fields the validation
// rejects, and event texts whose messages end in punctuation. Every answer
// is also checked for doubled punctuation.
func TestRepliesGolden(t *testing.T) {
	withDefault := testPresets(t)
	withDefault[DefaultPreset] = withDefault["small"]
	cases := []struct {
		name    string
		presets Presets
		text    string
	}{
		{"help, presets without a default", nil, "help"},
		{"help, a default preset", withDefault, "help"},
		{"help, no presets", Presets{}, "help"},
		{"several wrong options", nil, "create eck-demo0001 pool-a preset=small colour=red size= size=2 size=3 --foo=1"},
		{"password", nil, "create eck-demo0001 pool-a preset=small password=Secret123!"},
		{"not numbers and invalid fields", nil, "create eck-demo0001 pool-a preset=small size=abc disk=big vsw=bad type=huge"},
		{"parse problems beside wrong numbers and fields", nil, "create eck-demo0001 pool-a preset=small colour=red password=x size=abc vsw=bad"},
		{"unknown command", nil, "frobnicate"},
		{"dry run of a new pool", nil, "create eck-demo0001 pool-new preset=small dry-run"},
		{"dry run of a pool that exists with another spec", nil, "create eck-demo0001 pool-a preset=small --dry-run"},
		{"dry run of a status", nil, "status eck-demo0001 pool-a dry-run"},
	}
	var b strings.Builder
	for _, c := range cases {
		h := newHandler(t, func(cfg *Config) {
			if c.presets != nil {
				cfg.Presets = c.presets
			}
		})
		form := url.Values{"command": {"/nodepool"}, "text": {c.text}, "response_url": {"https://hooks.slack.com/x"}, "trigger_id": {"t1"}}
		w := serve(h.h, slackRequest(slackSecret, t0, []byte(form.Encode())))
		var m chatreply.SlackMessage
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil || w.Code != 200 {
			t.Fatalf("%s: %d %s", c.name, w.Code, w.Body)
		}
		if n := len(h.q.envelopes(t)); n != 0 {
			t.Errorf("%s: %d requests queued, want none", c.name, n)
		}
		b.WriteString("### " + c.name + ": /nodepool " + c.text + "\n" + m.Text + "\n\n")
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
	path := filepath.Join("testdata", "replies.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("replies differ from %s (run with -update after checking):\n%s", path, got)
	}
}
