package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/events"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/dev/enssim"
	"github.com/ensnodepool/webhook/pkg/dev/mnssim"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
	"github.com/ensnodepool/webhook/pkg/ens"
	"github.com/ensnodepool/webhook/pkg/fcadapter"
	"github.com/ensnodepool/webhook/pkg/fcapp"
	"github.com/ensnodepool/webhook/pkg/mns"
	"github.com/ensnodepool/webhook/pkg/tracking"
)

// TestHandle wires the function as main does, against the simulators, and
// runs one timer invocation whose context carries the STS credentials.
func TestHandle(t *testing.T) {
	const ak, sk = "ak-test", "sk-test"
	mnsSim := testkit.StartMNS(t, mnssim.Config{AccessKeyID: ak, AccessKeySecret: sk})
	es := testkit.StartENS(t, enssim.Config{AccessKeyID: ak, AccessKeySecret: sk, ProvisionTime: time.Millisecond})
	var got atomic.Int32
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if ev, err := callback.ParseEvent(b); err == nil && ev.Type == callback.TypeActive {
			got.Add(1)
		}
	}))
	defer rcv.Close()

	secret := callback.SecretPrefix + base64.StdEncoding.EncodeToString(make([]byte, 32))
	env := map[string]string{
		"MNS_ENDPOINT": mnsSim.URL(), "ENS_ENDPOINT": es.Endpoint(), "ENS_PROTOCOL": "HTTP",
		"CALLBACK_SECRET": secret, "CALLBACK_ALLOW_HTTP": "true", "CALLBACK_ALLOW_CIDRS": "127.0.0.0/8",
	}
	s, err := config.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	log, err := fcapp.Logger(s, io.Discard, function)
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(s, log)
	if err != nil {
		t.Fatal(err)
	}

	// The worker's side: a pool and its tracking message.
	ctx := context.Background()
	creds := fcadapter.Credentials{AccessKeyID: ak, AccessKeySecret: sk, SecurityToken: "sts-token"}
	ec, qc, err := a.clients.For(creds)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ec.CreateClusterNodePool(ctx, &ens.CreateClusterNodePoolRequest{ClusterId: "eck-demo0001",
		NodepoolInfo: &ens.NodepoolInfo{Name: "p"},
		ScalingGroup: &ens.ScalingGroup{ImageId: "m-1", InstanceTypes: []string{"ens.sn1.small"},
			VswitchIds: []string{"vsw-demo0001"}, DesiredSize: 1, Password: "Test-Passw0rd"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{a.cfg.TrackingQueue, a.cfg.DeadLetterQueue} {
		if err := qc.EnsureQueue(ctx, q, mns.QueueAttributes{}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	m := tracking.Message{RequestId: "r1", ClusterId: "eck-demo0001", Name: "p",
		NodepoolId: resp.Nodepool.NodepoolInfo.NodepoolId, CallbackUrl: rcv.URL, CreatedAt: now, Deadline: now.Add(time.Hour)}
	body, _ := m.Marshal()
	if _, err := qc.Queue(a.cfg.TrackingQueue).Send(ctx, body, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // provisioned

	ictx, cancel := context.WithTimeout(fcadapter.NewContext(ctx, fcadapter.Invocation{RequestID: "req-1", Credentials: creds}), 60*time.Second)
	defer cancel()
	// The timer event is the repository's sample, as FC delivers it.
	raw, err := os.ReadFile("../../events/timer.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.TimerEvent
	if err := json.Unmarshal(raw, &ev); err != nil || ev.TriggerName == nil || *ev.TriggerName != "tick" {
		t.Fatalf("events/timer.json: %v %+v", err, ev)
	}
	if _, err := a.Handle(ictx, ev); err != nil {
		t.Fatalf("handle: %v", err)
	}
	if got.Load() != 1 {
		t.Errorf("receiver got %d active events, want 1", got.Load())
	}
}

func TestNewAppRequires(t *testing.T) {
	s, err := config.FromEnv(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newApp(s, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("newApp with an empty environment succeeded")
	}
}
