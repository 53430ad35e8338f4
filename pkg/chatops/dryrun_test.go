package chatops

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/chatreply"
	"github.com/ensnodepool/webhook/pkg/dev/enssim"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
	"github.com/ensnodepool/webhook/pkg/ens"
)

// TestDryRunCommand: `nodepool create … dry-run` answers, in the
// conversation, what the worker would do with the pools the ENS simulator
// holds — create, adopt, conflict (each differing option), an unknown
// cluster — and queues and creates nothing.
func TestDryRunCommand(t *testing.T) {
	t.Parallel()
	es := testkit.StartENS(t, enssim.Config{AccessKeyID: "ak", AccessKeySecret: "sk", Clusters: enssim.DefaultClusters(), ProvisionTime: time.Hour})
	client := es.Client(t, ens.Config{MaxAttempts: 1})
	b := newHandler(t, func(c *Config) { c.Pools = client })
	// The pool "chat-pool" as preset small with size=2 makes it.
	first := serve(b.h, slackRequest(slackSecret, t0, slackForm(t, map[string]string{"text": "create eck-demo0001 chat-pool preset=small size=2", "trigger_id": "t-create"})))
	if first.Code != 200 || len(b.q.envelopes(t)) != 1 {
		t.Fatalf("create: %d %s", first.Code, first.Body)
	}
	req := b.q.envelopes(t)[0].Request
	created, err := client.CreateClusterNodePool(context.Background(), req.ENS())
	if err != nil {
		t.Fatal(err)
	}
	id := created.Nodepool.NodepoolInfo.NodepoolId
	for _, c := range []struct{ text, want string }{
		{"create eck-demo0001 new-pool preset=small dry-run", "does not exist yet, so a create would create it"},
		{"create eck-demo0001 chat-pool preset=small size=2 dry-run", "already exists (" + id + ") with this spec, so a create would adopt it"},
		{"create eck-demo0001 chat-pool preset=small size=3 --dry-run", "already exists (" + id + ") with a different spec, so a create would fail with Conflict:\n" +
			"• size (ScalingGroup.DesiredSize): you asked `3`, it has `2`\nNothing was queued."},
		{"create eck-nope0001 chat-pool preset=small DRY-RUN", "ENS does not know the cluster eck-nope0001. Nothing was queued."},
	} {
		w := serve(b.h, slackRequest(slackSecret, t0, slackForm(t, map[string]string{"text": c.text, "trigger_id": "t-" + c.text})))
		var m chatreply.SlackMessage
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil || w.Code != 200 || !strings.Contains(m.Text, c.want) {
			t.Errorf("%s: %d %q\nwant it to contain %q", c.text, w.Code, m.Text, c.want)
		}
	}
	if n := len(b.q.envelopes(t)); n != 1 {
		t.Errorf("%d requests queued, want only the first create", n)
	}
	if s := es.Server.Stats(); s.Pools != 1 || s.Calls["CreateClusterNodePool"] != 1 {
		t.Errorf("ENS: %d pools after %d creates, want 1 and 1", s.Pools, s.Calls["CreateClusterNodePool"])
	}
}
