package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/deadletter"
	"github.com/ensnodepool/webhook/pkg/dev/enssim"
	"github.com/ensnodepool/webhook/pkg/dev/mnssim"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
	"github.com/ensnodepool/webhook/pkg/ens"
	"github.com/ensnodepool/webhook/pkg/fcadapter"
	"github.com/ensnodepool/webhook/pkg/mns"
	"github.com/ensnodepool/webhook/pkg/nodepool"
	"github.com/ensnodepool/webhook/pkg/tracking"
	"github.com/ensnodepool/webhook/pkg/worker"
)

const (
	testAK = "test-ak"
	testSK = "test-secret"
	// testSealKeys is a fixed key for tests only.
	testSealKeys = "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
	// testCallbackSecret is "whsec_" + base64 of 32 bytes 0x02.
	testCallbackSecret = "whsec_AgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="
	qRequests          = "requests"
	qTracking          = "tracking"
	qDeadLetter        = "deadletter"
)

// testClusters are three clusters, each with its own vSwitch.
func testClusters() []enssim.ClusterSeed {
	return []enssim.ClusterSeed{
		{ClusterId: "eck-demo0001", Name: "demo", EnsRegionId: "cn-hangzhou-58", VswitchIds: []string{"vsw-demo0001", "vsw-demo0002"}},
		{ClusterId: "eck-east0002", Name: "east", EnsRegionId: "cn-shanghai-10", VswitchIds: []string{"vsw-east0001"}},
		{ClusterId: "eck-west0003", Name: "west", EnsRegionId: "cn-chengdu-3", VswitchIds: []string{"vsw-west0001"}},
	}
}

// mnsClock is the MNS service's clock: real time plus an offset that tests
// move forward to make delayed messages visible.
type mnsClock struct{ off atomic.Int64 }

func (c *mnsClock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *mnsClock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// options tune setup.
type options struct {
	writeRate     int // ENS service and client write limit; default 1000
	provision     time.Duration
	workerConfig  func(*worker.Config)
	clientBackoff time.Duration // ENS client base backoff; default 20ms
}

// bundle is the worker wired to real in-process services.
type bundle struct {
	ens      *enssim.Server
	ensCli   *ens.Client
	mns      *mnssim.Server
	mnsClock *mnsClock
	qc       *mns.Client
	requests *mns.Queue
	tracking *mns.Queue
	dlq      *mns.Queue
	recv     *receiver
	sender   *callback.Deliverer
	sealer   *nodepool.Sealer
	cfg      worker.Config
	w        *worker.Worker
}

func setup(t testing.TB, o options) *bundle {
	t.Helper()
	if o.writeRate == 0 {
		o.writeRate = 1000
	}
	if o.provision == 0 {
		o.provision = 2 * time.Second
	}
	if o.clientBackoff == 0 {
		o.clientBackoff = 20 * time.Millisecond
	}
	b := &bundle{}

	ensSim := testkit.StartENS(t, enssim.Config{AccessKeyID: testAK, AccessKeySecret: testSK, ProvisionTime: o.provision,
		WriteRate: o.writeRate, DescribeRate: 1000, Clusters: testClusters()})
	b.ens = ensSim.Server
	b.ensCli = ensSim.Client(t, ens.Config{RegionID: "cn-hangzhou", WriteRate: float64(o.writeRate),
		DescribeRate: 1000, BaseBackoff: o.clientBackoff, MaxBackoff: 10 * o.clientBackoff})

	b.mnsClock = &mnsClock{}
	mnsSim := testkit.StartMNS(t, mnssim.Config{AccessKeyID: testAK, AccessKeySecret: testSK, Now: b.mnsClock.Now, MaxClockSkew: 1000 * time.Hour})
	b.mns, b.qc = mnsSim.Server, mnsSim.Client
	qs := mnsSim.EnsureQueues(t, mns.QueueAttributes{VisibilityTimeout: 60 * time.Second}, qRequests, qTracking, qDeadLetter)
	b.requests, b.tracking, b.dlq = qs[0], qs[1], qs[2]

	b.recv = newReceiver(t)
	var err error
	b.sender, err = callback.NewDeliverer(callback.Config{Secrets: []string{testCallbackSecret}, AllowHTTP: true,
		Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.sender.Close() })
	keys, err := nodepool.ParseKeys(testSealKeys)
	if err != nil {
		t.Fatal(err)
	}
	b.sealer, err = nodepool.NewSealer(keys)
	if err != nil {
		t.Fatal(err)
	}
	b.cfg = worker.Config{
		Pools:      b.ensCli,
		Tracking:   b.tracking,
		DeadLetter: b.dlq,
		Requests:   b.requests,
		Deliverer:  b.sender,
		Validator:  nodepool.NewValidator(nodepool.ValidationConfig{AllowHTTPCallback: true, CallbackAllow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}),
		Sealer:     b.sealer,
		Backoff:    tracking.Backoff{First: time.Second},
		Logger:     testLogger(t),
	}
	if o.workerConfig != nil {
		o.workerConfig(&b.cfg)
	}
	b.w, err = worker.New(b.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// senderFunc adapts a function to worker.Sender, for injected failures.
type senderFunc func(ctx context.Context, body string, delay time.Duration) (mns.SendResult, error)

func (f senderFunc) Send(ctx context.Context, body string, delay time.Duration) (mns.SendResult, error) {
	return f(ctx, body, delay)
}

// failingSender fails every send.
var failingSender = senderFunc(func(context.Context, string, time.Duration) (mns.SendResult, error) {
	return mns.SendResult{}, fmt.Errorf("injected: queue unavailable")
})

// testLogger sends logs to t.Log (quiet unless the test fails or -v).
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	if _, ok := w.t.(*testing.B); ok {
		return len(p), nil
	}
	w.t.Log(string(p))
	return len(p), nil
}

// withWorker rebuilds the worker with changed config.
func (b *bundle) withWorker(t testing.TB, change func(*worker.Config)) *worker.Worker {
	t.Helper()
	cfg := b.cfg
	change(&cfg)
	w, err := worker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// request returns a valid request for cluster c (an index into
// testClusters) named name, with a callback to the receiver.
func (b *bundle) request(c int, name string) *nodepool.Request {
	cl := testClusters()[c]
	return &nodepool.Request{
		ClusterId:    cl.ClusterId,
		NodepoolInfo: nodepool.NodepoolInfo{Name: name},
		ScalingGroup: nodepool.ScalingGroup{
			DesiredSize: 2, InstanceTypes: []string{"ens.sn1.small"}, ImageId: "m-6734fzvcwcv2o8jj201cpa7ox",
			VswitchIds: []string{cl.VswitchIds[0]}, KeyPairName: "demo-keypair",
			SystemDiskCategory: "cloud_efficiency", SystemDiskSize: 40,
		},
		Callback: &nodepool.Callback{Url: b.recv.URL()},
	}
}

// envelope seals and encodes req as the webhook would.
func (b *bundle) envelope(t testing.TB, req *nodepool.Request, requestID string, receivedAt time.Time) string {
	t.Helper()
	env, err := nodepool.NewEnvelope(req, requestID, nodepool.SourceQueue, receivedAt, b.sealer)
	if err != nil {
		t.Fatal(err)
	}
	body, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// enqueue sends bodies to the requests queue.
func (b *bundle) enqueue(t testing.TB, bodies ...string) {
	t.Helper()
	for _, body := range bodies {
		if _, err := b.requests.Send(context.Background(), body, 0); err != nil {
			t.Fatal(err)
		}
	}
}

// pull receives up to n messages from q as the trigger would deliver them
// (deleting them: the trigger acknowledges a batch it pushed), advancing
// the MNS clock by skip first so delayed messages are visible.
func (b *bundle) pull(t testing.TB, q *mns.Queue, n int, skip time.Duration) []mns.Message {
	t.Helper()
	b.mnsClock.Advance(skip)
	ctx := context.Background()
	var out []mns.Message
	for len(out) < n {
		msgs, err := q.Receive(ctx, min(n-len(out), mns.MaxBatch), 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			if err := q.Delete(ctx, m.ReceiptHandle); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, msgs...)
	}
	return out
}

// batch converts queue messages to trigger messages.
func batch(msgs []mns.Message) []fcadapter.QueueMessage {
	out := make([]fcadapter.QueueMessage, len(msgs))
	for i, m := range msgs {
		out[i] = fcadapter.QueueMessage{Index: i, MessageID: m.ID, Body: m.Body}
	}
	return out
}

// trackingMessages drains the tracking queue.
func (b *bundle) trackingMessages(t testing.TB) []*tracking.Message {
	t.Helper()
	var out []*tracking.Message
	for _, m := range b.pull(t, b.tracking, 1<<20, time.Hour) {
		tm, err := tracking.Parse([]byte(m.Body))
		if err != nil {
			t.Fatalf("tracking message: %v\n%s", err, m.Body)
		}
		out = append(out, tm)
	}
	return out
}

// deadLetters drains the dead-letter queue.
func (b *bundle) deadLetters(t testing.TB) []deadletter.RequestRecord {
	t.Helper()
	var out []deadletter.RequestRecord
	for _, m := range b.pull(t, b.dlq, 1<<20, 0) {
		var dl deadletter.RequestRecord
		if err := json.Unmarshal([]byte(m.Body), &dl); err != nil {
			t.Fatalf("dead letter: %v\n%s", err, m.Body)
		}
		out = append(out, dl)
	}
	return out
}

// createCounts maps "cluster/name" to successful creates.
func (b *bundle) createCounts() map[string]int64 {
	out := map[string]int64{}
	for _, c := range b.ens.Stats().Creates {
		out[c.ClusterId+"/"+c.Name] = c.Count
	}
	return out
}

// received is one callback the receiver got.
type received struct {
	ID    string
	Event callback.Event
}

// receiver is an httptest callback receiver.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []received
	status atomic.Int32 // answer; default 204
}

func newReceiver(t testing.TB) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		ev, err := callback.ParseEvent(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.got = append(r.got, received{ID: req.Header.Get("webhook-id"), Event: ev})
		r.mu.Unlock()
		w.WriteHeader(int(cmpOr(r.status.Load(), http.StatusNoContent)))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func cmpOr(v, def int32) int32 {
	if v == 0 {
		return def
	}
	return v
}

func (r *receiver) URL() string { return r.srv.URL + "/hook" }

func (r *receiver) events() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}
