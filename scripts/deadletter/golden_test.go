package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/deadletter"
	"github.com/ensnodepool/webhook/pkg/dev/mnssim"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
	"github.com/ensnodepool/webhook/pkg/mns"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// heldClock reads base until release, then base plus the time since: the
// records are enqueued at base exactly, and holds still run out.
type heldClock struct {
	mu       sync.Mutex
	base     time.Time
	released time.Time
}

func (c *heldClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.released.IsZero() {
		return c.base
	}
	return c.base.Add(time.Since(c.released))
}

func (c *heldClock) release() { c.mu.Lock(); c.released = time.Now(); c.mu.Unlock() }

// TestGolden keeps what the command prints in testdata/*.golden (go test
// ./scripts/deadletter -run TestGolden -update rewrites them): the listing
// as text and as JSON (times in RFC 3339), show with the envelope as JSON
// (from a request record's Body and from a trigger dead letter's base64
// CloudEvent body), -caller finding that trigger record, a declined purge
// (what matched and was kept, and its error: the command exits 1), a
// record that is not there, and the errors of bad flags — each error with
// one "deadletter:" prefix, before the usage line. Message
// ids and the times of the run are replaced by names.
func TestGolden(t *testing.T) {
	base := time.Now().UTC().Truncate(time.Second)
	clock := &heldClock{base: base}
	m := testkit.StartMNS(t, mnssim.Config{AccessKeyID: ak, AccessKeySecret: sk, Now: clock.Now})
	m.EnsureQueues(t, mns.QueueAttributes{VisibilityTimeout: 30 * time.Second}, "dl", "reqs", "trk")
	f := &fixture{mns: m,
		env:  map[string]string{config.EnvAccessKeyID: ak, config.EnvAccessKeySecret: sk, config.EnvMNSEndpoint: m.URL()},
		args: []string{"-queue", "dl", "-requests", "reqs", "-tracking", "trk", "-hold", "3s"}}
	at := func(d time.Duration) time.Time { return base.Add(-d) }
	env := goldenEnvelope(t, "req_golden1", "pool-1", "")
	envCaller := goldenEnvelope(t, "req_golden2", "pool-2", "portal-b")
	ev := callback.Event{Type: callback.TypeActive, Timestamp: at(2 * time.Hour), Data: callback.EventData{
		RequestId: "req_golden3", ClusterId: "eck-demo0001", Name: "pool-3", NodepoolId: "np-3"}}
	d := callback.NewDelivery("https://hooks.example.com/ens", ev, at(2*time.Hour))
	d.MessageID = "msg_golden3"
	d.Attempts = []callback.Attempt{{At: at(time.Hour), Outcome: callback.Gone, Status: 410}}
	d.State, d.NextAt = callback.StateGone, time.Time{}
	for _, body := range []string{
		goldenJSON(t, deadletter.RequestRecord{Version: 1, Kind: deadletter.KindRequest, Reason: "node pool exists with another spec",
			Code: "Conflict", RequestId: "req_golden1", ClusterId: "eck-demo0001", Name: "pool-1", At: at(3 * time.Hour), Body: env, BodySize: len(env)}),
		goldenJSON(t, deadletter.RequestRecord{Version: 1, Kind: deadletter.KindRequest, Reason: "node pool exists with another spec",
			Code: "Conflict", RequestId: "req_golden4", ClusterId: "eck-demo0001", Name: "pool-4", At: at(2 * time.Hour), Body: env, BodySize: len(env)}),
		goldenJSON(t, deadletter.NewCallbackRecord(d, at(time.Hour))),
		goldenCloudEvent(t, envCaller),
	} {
		if _, err := m.Client.Queue("dl").Send(context.Background(), body, 0); err != nil {
			t.Fatal(err)
		}
	}
	clock.release()

	ids := f.goldenIDs(t)
	var b strings.Builder
	step := func(stdin string, args ...string) {
		t.Helper()
		f.settle(t, "dl")
		var out strings.Builder
		err := run(context.Background(), append(slices.Clone(f.args), args...), func(k string) string { return f.env[k] },
			strings.NewReader(stdin), &out, func(tool *deadletter.Tool) { tool.Now = func() time.Time { return base } })
		b.WriteString("$ deadletter " + strings.Join(args, " ") + "\n" + out.String())
		if err != nil {
			b.WriteString(errorLine(err) + "\n")
		}
		b.WriteString("\n")
	}
	step("", "list")
	step("", "list", "-json")
	step("", "show", ids["req_golden1"])
	step("", "show", ids["req_golden2"])
	step("", "list", "-caller", "portal-b")
	step("", "show", "NO-SUCH-ID")
	step("no\n", "purge", "-cause", "Conflict")
	step("", "-kind", "bogus", "list")
	step("", "list", "-older-than", "-1h")
	step("", "-hold", "13h", "redrive")
	step("", "frob")

	got := normalize(b.String(), base, ids)
	testkit.Golden(t, filepath.Join("testdata", "deadletter.golden"), []byte(got), *update)
	if strings.Contains(got, `\"RequestId\"`) {
		t.Error("an envelope is printed as an escaped string")
	}
}

// goldenIDs maps each record's RequestId to its message id.
func (f *fixture) goldenIDs(t *testing.T) map[string]string {
	t.Helper()
	msgs, err := f.mns.Inspector().Peek(context.Background(), "dl")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range msgs {
		r := deadletter.Parse(mns.Message{ID: m.ID, Body: m.Body})
		out[r.RequestId] = m.ID
	}
	return out
}

// normalize names the run's message ids (by RequestId) and times (by
// their distance from base).
func normalize(s string, base time.Time, ids map[string]string) string {
	for rid, id := range ids {
		s = strings.ReplaceAll(s, id, "<id of "+rid+">")
	}
	for _, h := range []int{0, 1, 2, 3} {
		t := base.Add(-time.Duration(h) * time.Hour)
		s = strings.ReplaceAll(s, t.Format(time.RFC3339Nano), fmt.Sprintf("<T-%dh>", h))
		s = strings.ReplaceAll(s, t.Format("2006-01-02T15:04:05.000Z07:00"), fmt.Sprintf("<T-%dh>", h))
	}
	// Receipt handles and dequeue counts are not part of the output.
	return regexp.MustCompile(`"DequeueCount":\s*\d+`).ReplaceAllString(s, `"DequeueCount": n`)
}

func goldenJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// goldenEnvelope is an envelope for pool name, received at a fixed time.
func goldenEnvelope(t *testing.T, rid, name, caller string) string {
	t.Helper()
	r := &nodepool.Request{ClusterId: "eck-demo0001", NodepoolInfo: nodepool.NodepoolInfo{Name: name},
		ScalingGroup: nodepool.ScalingGroup{DesiredSize: 1, InstanceTypes: []string{"ens.sn1.small"},
			ImageId: "m-6734fzvcwcv2o8jj201cpa7ox", VswitchIds: []string{"vsw-demo0001"}, KeyPairName: "demo-keypair"}}
	e, err := nodepool.NewEnvelope(r, rid, nodepool.SourceQueue, time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC), nil)
	if err != nil {
		t.Fatal(err)
	}
	e.Caller = caller
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// goldenCloudEvent is the EventBridge trigger's dead letter of body: the
// first CloudEvent of events/mns-batch.json carrying it base64-encoded.
func goldenCloudEvent(t *testing.T, body string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", "mns-batch.json"))
	if err != nil {
		t.Fatal(err)
	}
	var evs []map[string]any
	if err := json.Unmarshal(raw, &evs); err != nil {
		t.Fatal(err)
	}
	evs[0]["data"].(map[string]any)["messageBody"] = base64.StdEncoding.EncodeToString([]byte(body))
	return goldenJSON(t, evs[0])
}
