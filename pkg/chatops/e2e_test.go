package chatops_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/chatops"
	"github.com/ensnodepool/webhook/pkg/chatreply"
	"github.com/ensnodepool/webhook/pkg/dev/enssim"
	"github.com/ensnodepool/webhook/pkg/dev/mnssim"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
	"github.com/ensnodepool/webhook/pkg/ens"
	"github.com/ensnodepool/webhook/pkg/fcadapter"
	"github.com/ensnodepool/webhook/pkg/mns"
	"github.com/ensnodepool/webhook/pkg/nodepool"
	"github.com/ensnodepool/webhook/pkg/poller"
	"github.com/ensnodepool/webhook/pkg/worker"
)

const (
	ak, sk       = "test-ak", "test-sk"
	slackSecret  = "e2e-slack-signing-secret"
	callbackWhse = "whsec_AgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="
)

// slackReceiver stands in for hooks.slack.com's response_url.
type slackReceiver struct {
	mu   sync.Mutex
	msgs []chatreply.SlackMessage
}

func (s *slackReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m chatreply.SlackMessage
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &m); err != nil || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	s.mu.Unlock()
	_, _ = w.Write([]byte("ok"))
}

func (s *slackReceiver) texts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.msgs {
		out = append(out, m.ResponseType+": "+m.Text)
	}
	return out
}

// queueSend adapts a queue to chatops.Sender.
type queueSend struct{ q *mns.Queue }

func (s queueSend) Send(ctx context.Context, body string) (string, error) {
	r, err := s.q.Send(ctx, body, 0)
	return r.MessageID, err
}

// TestSlackEndToEnd: a signed Slack slash command is acknowledged with its
// RequestId; the worker creates the pool in the ENS simulator and posts
// "creating" to the response_url; the poller sees it active and posts
// "active" — both as Slack messages, through the real queue, ENS and
// callback code against in-process MNS and ENS services.
func TestSlackEndToEnd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// clk is shared by the simulators, the handler, the worker, the poller
	// and the callback sender.
	clk := testkit.NewClock(time.Now().Truncate(time.Second))

	mnsSim := testkit.StartMNS(t, mnssim.Config{AccessKeyID: ak, AccessKeySecret: sk, Now: clk.Now, MaxClockSkew: 1000 * time.Hour})
	ensSim := testkit.StartENS(t, enssim.Config{AccessKeyID: ak, AccessKeySecret: sk, Now: clk.Now, ProvisionTime: 20 * time.Second,
		WriteRate: 1000, DescribeRate: 1000, Clusters: enssim.DefaultClusters()})
	ensc := ensSim.Client(t, ens.Config{WriteRate: 1000, DescribeRate: 1000,
		BaseBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	qs := mnsSim.EnsureQueues(t, mns.QueueAttributes{VisibilityTimeout: 30 * time.Second}, "requests", "tracking", "deadletter")
	requests, tracking, dlq := qs[0], qs[1], qs[2]

	recv := &slackReceiver{}
	rs := httptest.NewServer(recv)
	t.Cleanup(rs.Close)

	// Loopback is allowed here, in the test configuration only.
	validator := nodepool.NewValidator(nodepool.ValidationConfig{AllowHTTPCallback: true, CallbackAllow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	sender, err := callback.NewDeliverer(callback.Config{Secrets: []string{callbackWhse}, Now: clk.Now, AllowHTTP: true,
		Allow:     []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		Renderers: chatreply.Renderers(chatreply.RenderConfig{ExtraHosts: []string{"127.0.0.1"}}),
		Retry:     callback.Policy{Rand: func() float64 { return 0.5 }}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sender.Close() })

	presets, err := chatops.ParsePresets(mustRead(t, "testdata/presets.json"))
	if err != nil {
		t.Fatal(err)
	}
	sv, err := chatops.NewSlackVerifier(chatops.VerifierConfig{Secrets: []string{slackSecret}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	h, err := chatops.New(chatops.Config{Slack: sv, Presets: presets, Validator: validator, Queue: queueSend{requests},
		Pools: ensc, ExtraHosts: []string{"127.0.0.1"}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(worker.Config{Pools: ensc, Tracking: tracking, DeadLetter: dlq,
		Requests: requests, Deliverer: sender, Validator: validator, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	p, err := poller.New(poller.Config{Tracking: tracking, DeadLetter: dlq, Pools: ensc, Deliverer: sender,
		ReceiveWait: -1, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}

	// 1. The Slack command, signed, answered at once with the RequestId.
	form := url.Values{"command": {"/nodepool"}, "text": {"create  eck-demo0001 chat-pool preset=small size=2"},
		"response_url": {rs.URL + "/commands/T1/1/x"}, "trigger_id": {"1.2.3"}, "user_id": {"U1"}, "channel_id": {"C1"}}
	body := []byte(form.Encode())
	req := httptest.NewRequest(http.MethodPost, "/v1/chatops/slack", bytes.NewReader(body))
	ts := strconv.FormatInt(clk.Now().Unix(), 10)
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(chatops.SlackSignature(slackSecret, ts, body)))
	rec := httptest.NewRecorder()
	start := time.Now()
	h.ServeHTTP(rec, req)
	if d := time.Since(start); d > time.Second {
		t.Errorf("ack took %v; Slack allows 3 s", d)
	}
	var ack chatreply.SlackMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &ack); err != nil || rec.Code != 200 {
		t.Fatalf("ack: %d %s", rec.Code, rec.Body)
	}
	requestID := nodepool.RequestID("slack:1.2.3", "")
	if !strings.Contains(ack.Text, "RequestId `"+requestID+"`") || ack.ResponseType != "in_channel" {
		t.Fatalf("ack = %+v, want RequestId %s", ack, requestID)
	}

	// 2. The worker takes the request: pool created, "creating" posted.
	msgs, err := requests.Receive(ctx, 10, 0)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("requests: %d, %v", len(msgs), err)
	}
	res, err := w.HandleBatch(ctx, []fcadapter.QueueMessage{{MessageID: msgs[0].ID, Body: msgs[0].Body}})
	if err != nil {
		t.Fatalf("worker: %v (%+v)", err, res)
	}
	_ = requests.Delete(ctx, msgs[0].ReceiptHandle)

	// 3. Time passes; the poller finds the pool active and posts it.
	for i := 0; i < 6 && len(recv.texts()) < 2; i++ {
		clk.Advance(15 * time.Second)
		if _, err := p.Tick(ctx); err != nil {
			t.Fatalf("tick: %v", err)
		}
	}
	got := recv.texts()
	if len(got) != 2 {
		t.Fatalf("response_url got %d messages, want creating and active: %q", len(got), got)
	}
	if !strings.Contains(got[0], "in_channel: ⏳ Node pool `chat-pool` in `eck-demo0001` is being created") ||
		!strings.Contains(got[1], "in_channel: ✅ Node pool `chat-pool` in `eck-demo0001` is active: 2/2 nodes serving") {
		t.Fatalf("messages = %q", got)
	}
	for _, m := range got {
		if !strings.Contains(m, requestID) {
			t.Errorf("%q lacks the RequestId", m)
		}
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
