package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/dev/enssim"
	"github.com/ensnodepool/webhook/pkg/dev/mnssim"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
	"github.com/ensnodepool/webhook/pkg/fcadapter"
	"github.com/ensnodepool/webhook/pkg/fcapp"
	"github.com/ensnodepool/webhook/pkg/mns"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// TestInvoke runs one invocation end to end: FC context credentials, an
// EventBridge CloudEvents array, the ENS and MNS services.
func TestInvoke(t *testing.T) {
	t.Parallel()
	const ak, sk = "test-ak", "test-secret"
	es := testkit.StartENS(t, enssim.Config{AccessKeyID: ak, AccessKeySecret: sk, ProvisionTime: time.Second})
	ms := testkit.StartMNS(t, mnssim.Config{AccessKeyID: ak, AccessKeySecret: sk})

	env := map[string]string{
		config.EnvMNSEndpoint: ms.URL(), config.EnvENSEndpoint: es.Endpoint(), config.EnvENSProtocol: "HTTP",
		config.EnvCallbackSecret: "whsec_AgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=", config.EnvCallbackAllowHTTP: "true",
		config.EnvSealKeys: "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
	}
	s, err := config.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	s.CallbackAllow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	var logs bytes.Buffer
	log, err := fcapp.Logger(s, &logs, function)
	if err != nil {
		t.Fatal(err)
	}
	h, err := newApp(s, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ms.EnsureQueues(t, mns.QueueAttributes{}, s.RequestsQueue, s.TrackingQueue, s.DeadLetterQueue)
	qc := ms.Client

	req, err := nodepool.Decode([]byte(`{"ClusterId":"eck-demo0001","NodepoolInfo":{"Name":"invoke"},"ScalingGroup":{"DesiredSize":1,"InstanceTypes":["ens.sn1.small"],"ImageId":"m-abc","VswitchIds":["vsw-demo0001"],"Password":"Sup3r-Secret"}}`))
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := nodepool.ParseKeys(env[config.EnvSealKeys])
	sealer, _ := nodepool.NewSealer(keys)
	e, err := nodepool.NewEnvelope(req, "req_invoke", nodepool.SourceQueue, time.Now(), sealer)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := e.Marshal()
	payload, _ := json.Marshal([]map[string]any{{"id": "ev1", "specversion": "1.0", "type": "mns:Queue:SendMessage",
		"data": map[string]string{"requestId": "r1", "messageId": "m1", "messageBody": string(body)}}})

	ictx := fcadapter.NewContext(ctx, fcadapter.Invocation{RequestID: "fc-req-1",
		Credentials: fcadapter.Credentials{AccessKeyID: ak, AccessKeySecret: sk, SecurityToken: "sts"}})
	if _, err := h.Handle(ictx, payload); err != nil {
		t.Fatal(err)
	}
	pools := es.Server.Pools("eck-demo0001")
	if len(pools) != 1 || pools[0].NodepoolInfo.Name != "invoke" {
		t.Fatalf("pools = %+v", pools)
	}
	msgs, err := qc.Queue(s.TrackingQueue).Receive(ctx, 16, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 0 {
		t.Fatalf("tracking message visible before its delay: %d", len(msgs))
	}
	attrs, err := qc.Queue(s.TrackingQueue).Attributes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if attrs.Delayed != 1 {
		t.Errorf("tracking queue holds %d delayed messages, want 1", attrs.Delayed)
	}
	out := logs.String()
	if !strings.Contains(out, `"fcRequestId":"fc-req-1"`) || !strings.Contains(out, `"RequestId":"req_invoke"`) {
		t.Errorf("logs lack the FC request id or RequestId:\n%s", out)
	}
	for _, secret := range []string{"Sup3r-Secret", e.SealedPassword, sk} {
		if strings.Contains(out, secret) {
			t.Errorf("logs leak a secret:\n%s", out)
		}
	}
}
