package deadletter_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/deadletter"
	"github.com/ensnodepool/webhook/pkg/dev/mnssim"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
	"github.com/ensnodepool/webhook/pkg/mns"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

const (
	testAK = "test-ak"
	testSK = "test-secret"
	// sealKeys is a fixed development key (32 bytes of 0x01).
	sealKeys = "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
	// marker is a password that must never be shown.
	marker = "Marker-Pw-42x"
)

// stack is the MNS simulator with the three queues and a Tool on them.
type stack struct {
	mns                     *testkit.MNS
	dlq, requests, tracking *mns.Queue
	tool                    *deadletter.Tool
}

func newStack(t *testing.T) *stack {
	t.Helper()
	m := testkit.StartMNS(t, mnssim.Config{AccessKeyID: testAK, AccessKeySecret: testSK})
	qs := m.EnsureQueues(t, mns.QueueAttributes{VisibilityTimeout: 30 * time.Second}, "dl", "reqs", "trk")
	s := &stack{mns: m, dlq: qs[0], requests: qs[1], tracking: qs[2]}
	s.tool = &deadletter.Tool{DeadLetter: s.dlq, Requests: s.requests, Tracking: s.tracking, Hold: 20 * time.Second}
	return s
}

// put sends bodies to the dead-letter queue and returns their message ids.
func (s *stack) put(t *testing.T, bodies ...string) []string {
	t.Helper()
	var ids []string
	for _, b := range bodies {
		res, err := s.dlq.Send(context.Background(), b, 0)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.MessageID)
	}
	return ids
}

// settle waits until every message of queue is visible again (a command
// releases what it held after one second) and returns the queue's stats.
func (s *stack) settle(t *testing.T, queue string) mnssim.QueueStats {
	t.Helper()
	in := s.mns.Inspector()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := in.Queue(context.Background(), queue)
		if err != nil {
			t.Fatal(err)
		}
		if st.Visible == st.Total || time.Now().After(deadline) {
			return st
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// bodies peeks every message body of queue.
func (s *stack) bodies(t *testing.T, queue string) []string {
	t.Helper()
	ms, err := s.mns.Inspector().Peek(context.Background(), queue)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Body
	}
	return out
}

func sealer(t testing.TB) *nodepool.Sealer {
	t.Helper()
	ks, err := nodepool.ParseKeys(sealKeys)
	if err != nil {
		t.Fatal(err)
	}
	s, err := nodepool.NewSealer(ks)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// envelope is a valid envelope for (cluster, name); with a password it is
// sealed.
func envelope(t testing.TB, rid, cluster, name, password string) string {
	t.Helper()
	r := &nodepool.Request{ClusterId: cluster, NodepoolInfo: nodepool.NodepoolInfo{Name: name},
		ScalingGroup: nodepool.ScalingGroup{DesiredSize: 1, InstanceTypes: []string{"ens.sn1.small"},
			ImageId: "m-6734fzvcwcv2o8jj201cpa7ox", VswitchIds: []string{"vsw-demo0001"}},
		Callback: &nodepool.Callback{Url: "https://hooks.example.com/ens"}}
	if password != "" {
		r.ScalingGroup.Password = password
	} else {
		r.ScalingGroup.KeyPairName = "demo-keypair"
	}
	e, err := nodepool.NewEnvelope(r, rid, nodepool.SourceQueue, time.Now().Add(-2*time.Hour), sealer(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// requestRecord is the worker's record of a request that produced no pool.
func requestRecord(t testing.TB, rid, cluster, name, code string, at time.Time, body string) string {
	dl := deadletter.RequestRecord{Version: deadletter.Version, Kind: deadletter.KindRequest,
		Reason: code + " happened", Code: code, RequestId: rid, ClusterId: cluster, Name: name, At: at.UTC(),
		BodySize: len(body)}
	if out, ok := nodepool.RedactJSON([]byte(body)); ok { // as the worker writes it
		dl.Body = string(out)
	} else {
		dl.BodyWithheld = true
	}
	return mustJSON(t, dl)
}

// callbackDelivery is an undeliverable nodepool.active delivery.
func callbackDelivery(rid, cluster, name, url string, state callback.State, at time.Time) callback.Delivery {
	ev := callback.Event{Type: callback.TypeActive, Timestamp: at.Add(-time.Hour).UTC(), Data: callback.EventData{
		RequestId: rid, ClusterId: cluster, Name: name, NodepoolId: "np-" + name}}
	d := callback.NewDelivery(url, ev, at.Add(-time.Hour))
	d.Attempts = []callback.Attempt{{At: at.Add(-time.Hour), Outcome: callback.Gone, Status: 410}}
	d.State, d.NextAt = state, time.Time{}
	return *d
}

func callbackRecord(t testing.TB, d callback.Delivery, at time.Time) string {
	return mustJSON(t, deadletter.NewCallbackRecord(&d, at.UTC()))
}

func trackingRecord(t testing.TB, at time.Time) string {
	return mustJSON(t, deadletter.TrackingRecord{Version: deadletter.Version, Kind: deadletter.KindTracking,
		Reason: deadletter.ReasonInvalid, At: at.UTC(), MessageID: "M1", Error: "tracking: invalid message: version 7",
		Body: `{"Version":7,"RequestId":"req_trk","ClusterId":"eck-demo0001","Name":"t"}`})
}

// cloudEvent wraps a message body as the EventBridge MNS trigger delivers
// (and dead-letters) it: the first element of events/mns-batch.json with
// its messageBody replaced, base64-encoded when b64.
func cloudEvent(t testing.TB, body string, b64 bool) string {
	t.Helper()
	raw, err := os.ReadFile("../../events/mns-batch.json")
	if err != nil {
		t.Fatal(err)
	}
	var evs []map[string]any
	if err := json.Unmarshal(raw, &evs); err != nil {
		t.Fatal(err)
	}
	ev := evs[0]
	if b64 {
		body = base64.StdEncoding.EncodeToString([]byte(body))
	}
	ev["data"].(map[string]any)["messageBody"] = body
	return mustJSON(t, ev)
}
