package worker_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/deadletter"
	"github.com/ensnodepool/webhook/pkg/dev/enssim"
	"github.com/ensnodepool/webhook/pkg/dev/mnssim"
	"github.com/ensnodepool/webhook/pkg/fcadapter"
	"github.com/ensnodepool/webhook/pkg/nodepool"
	"github.com/ensnodepool/webhook/pkg/worker"
)

// outcomes lists the items' outcomes in order.
func outcomes(r worker.Result) []worker.Outcome {
	var out []worker.Outcome
	for _, it := range r.Items {
		out = append(out, it.Outcome)
	}
	return out
}

func TestInvalidMessagesAreDeadLetteredAndReported(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	now := time.Now()

	invalid := b.request(0, "bad-size")
	invalid.ScalingGroup.DesiredSize = 101
	env, err := nodepool.NewEnvelope(b.request(0, "placeholder"), "req_invalid", nodepool.SourceQueue, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	env.Request = *invalid // bypass NewEnvelope's checks: automation that hand-crafts
	badBody, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	clear := b.request(0, "clear-pw")
	clear.ScalingGroup.KeyPairName, clear.ScalingGroup.Password = "", "Secr3t-Passw0rd"
	clearBody := fmt.Sprintf(`{"Version":1,"RequestId":"req_clear","ReceivedAt":%q,"Source":"queue","Request":{"ClusterId":"eck-demo0001","NodepoolInfo":{"Name":"clear-pw"},"ScalingGroup":{"DesiredSize":1,"InstanceTypes":["ens.sn1.small"],"ImageId":"m-abc","VswitchIds":["vsw-demo0001"],"Password":"Secr3t-Passw0rd"},"Callback":{"Url":%q}}}`,
		now.UTC().Format(time.RFC3339), b.recv.URL())

	b.enqueue(t, string(badBody), clearBody, "not json at all", `{"Version":3,"RequestId":"req_v3"}`)
	res, err := b.w.HandleBatch(context.Background(), batch(b.pull(t, b.requests, 16, 0)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := outcomes(res), []worker.Outcome{worker.Rejected, worker.Rejected, worker.Rejected, worker.Rejected}; !slices.Equal(got, want) {
		t.Fatalf("outcomes = %v, want %v", got, want)
	}

	// Both requests with a callback were told, with the reason.
	evs := b.recv.events()
	if len(evs) != 2 {
		t.Fatalf("callbacks = %d, want 2: %+v", len(evs), evs)
	}
	byReq := map[string]callback.Event{}
	for _, e := range evs {
		if e.Event.Type != callback.TypeFailed {
			t.Errorf("event type %q, want %q", e.Event.Type, callback.TypeFailed)
		}
		byReq[e.Event.Data.RequestId] = e.Event
	}
	if e := byReq["req_invalid"].Data.Error; e == nil || e.Code != worker.CodeInvalidRequest || !strings.Contains(e.Message, "ScalingGroup.DesiredSize") {
		t.Errorf("req_invalid error = %+v, want InvalidRequest naming ScalingGroup.DesiredSize", e)
	}
	if e := byReq["req_clear"].Data.Error; e == nil || !strings.Contains(e.Message, "scripts/enqueue") {
		t.Errorf("req_clear error = %+v, want a pointer to scripts/enqueue", e)
	}

	// Every message is in the dead-letter queue with its reason; no password.
	dls := b.deadLetters(t)
	if len(dls) != 4 {
		t.Fatalf("dead letters = %d, want 4", len(dls))
	}
	codes := map[string]bool{}
	for _, dl := range dls {
		codes[dl.Code] = true
		if dl.Reason == "" || dl.Kind != deadletter.KindRequest || dl.MessageID == "" {
			t.Errorf("dead letter lacks reason, kind or message id: %+v", dl)
		}
		if strings.Contains(dl.Body, "Secr3t") {
			t.Errorf("dead letter leaks the password: %s", dl.Body)
		}
	}
	for _, c := range []string{worker.CodeInvalidRequest, worker.CodeUndecodable, worker.CodeUnsupportedVersion} {
		if !codes[c] {
			t.Errorf("no dead letter with code %s (have %v)", c, codes)
		}
	}
	if n := b.ens.Stats().Pools; n != 0 {
		t.Errorf("pools = %d, want 0", n)
	}
	// Delivered at once: nothing left for the poller.
	if tm := b.trackingMessages(t); len(tm) != 0 {
		t.Errorf("tracking messages = %d, want 0", len(tm))
	}
}

func TestFortyRequestsAcrossThreeClusters(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	now := time.Now()
	var bodies []string
	for i := range 40 {
		bodies = append(bodies, b.envelope(t, b.request(i%3, fmt.Sprintf("pool-%02d", i)), fmt.Sprintf("req_%02d", i), now))
	}
	b.enqueue(t, bodies...)

	var batches [][]fcadapter.QueueMessage
	for {
		msgs := b.pull(t, b.requests, 16, 0)
		if len(msgs) == 0 {
			break
		}
		batches = append(batches, batch(msgs))
	}
	run := func(round string, want worker.Outcome) {
		for i, bt := range batches {
			before := b.ens.Stats().Calls["DescribeClusterNodePools"]
			res, err := b.w.HandleBatch(context.Background(), bt)
			if err != nil {
				t.Fatal(err)
			}
			if n := res.Count(want); n != len(bt) {
				t.Errorf("%s batch %d: %d of %d %s: %v", round, i, n, len(bt), want, outcomes(res))
			}
			// ≤ 50 pools per cluster: one page each.
			if d := b.ens.Stats().Calls["DescribeClusterNodePools"] - before; d > int64(res.Clusters) || res.Clusters > 3 {
				t.Errorf("%s batch %d: %d describe calls for %d clusters", round, i, d, res.Clusters)
			}
		}
	}
	run("first", worker.Created)
	run("redelivered", worker.Adopted)

	st := b.ens.Stats()
	if st.Pools != 40 || len(st.Creates) != 40 {
		t.Errorf("pools = %d, created names = %d, want 40 and 40", st.Pools, len(st.Creates))
	}
	for _, c := range st.Creates {
		if c.Count != 1 {
			t.Errorf("%s/%s created %d times", c.ClusterId, c.Name, c.Count)
		}
	}
	tms := b.trackingMessages(t)
	if len(tms) != 80 {
		t.Errorf("tracking messages = %d, want 80 (40 per round)", len(tms))
	}
	for _, tm := range tms {
		if tm.NodepoolId == "" || !tm.WasTold(callback.TypeCreating) || tm.Terminal || len(tm.Deliveries) != 0 {
			t.Errorf("tracking message %+v: want a NodepoolId, creating told and delivered", tm)
		}
	}
	// The redelivery told each request again under the same webhook-id.
	ids := map[string]int{}
	for _, e := range b.recv.events() {
		ids[e.ID]++
	}
	if len(ids) != 40 {
		t.Errorf("distinct webhook-ids = %d, want 40", len(ids))
	}
}

func TestCrashAfterCreateAdoptsOnRedelivery(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	now := time.Now()
	b.enqueue(t, b.envelope(t, b.request(1, "crashy"), "req_crash", now), b.envelope(t, b.request(2, "steady"), "req_steady", now))
	msgs := batch(b.pull(t, b.requests, 16, 0))

	// The process "dies" after CreateClusterNodePool: nothing can be
	// written, so the batch is not acknowledged.
	crashing := b.withWorker(t, func(c *worker.Config) { c.Tracking, c.Requests = failingSender, failingSender })
	res, err := crashing.HandleBatch(context.Background(), msgs)
	if err == nil {
		t.Fatal("HandleBatch succeeded although nothing could be written")
	}
	if got := res.Count(worker.Lost); got != 2 {
		t.Fatalf("lost = %d, want 2: %v", got, outcomes(res))
	}
	// The trigger redelivers the batch.
	res, err = b.w.HandleBatch(context.Background(), msgs)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Count(worker.Adopted); got != 2 {
		t.Fatalf("adopted = %d, want 2: %v", got, outcomes(res))
	}
	for k, n := range b.createCounts() {
		if n != 1 {
			t.Errorf("%s created %d times", k, n)
		}
	}
	if st := b.ens.Stats(); st.Pools != 2 {
		t.Errorf("pools = %d, want 2", st.Pools)
	}
	if tm := b.trackingMessages(t); len(tm) != 2 {
		t.Errorf("tracking messages = %d, want 2", len(tm))
	}
}

func TestTrackingFailureRequeuesAndAdopts(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	b.enqueue(t, b.envelope(t, b.request(0, "p1"), "req_p1", time.Now()))
	noTracking := b.withWorker(t, func(c *worker.Config) { c.Tracking = failingSender })
	res, err := noTracking.HandleBatch(context.Background(), batch(b.pull(t, b.requests, 16, 0)))
	if err != nil || res.Count(worker.Requeued) != 1 {
		t.Fatalf("err = %v, outcomes %v; want requeued", err, outcomes(res))
	}
	res, err = b.w.HandleBatch(context.Background(), batch(b.pull(t, b.requests, 16, time.Minute)))
	if err != nil || res.Count(worker.Adopted) != 1 {
		t.Fatalf("err = %v, outcomes %v; want adopted", err, outcomes(res))
	}
	if n := b.createCounts()["eck-demo0001/p1"]; n != 1 {
		t.Errorf("creates = %d, want 1", n)
	}
}

// TestBriefQueueOutageIsRiddenOut: a tracking write that fails twice (the
// queue service restarting: two InternalError answers) is retried by the
// queue itself (mns.Config.SendRetry): the pool is tracked, not re-queued,
// and nothing is lost.
func TestBriefQueueOutageIsRiddenOut(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	b.enqueue(t, b.envelope(t, b.request(0, "p1"), "req_p1", time.Now()))
	if err := b.mns.InjectSendFault(mnssim.SendFault{Queue: qTracking, Count: 2}); err != nil {
		t.Fatal(err)
	}
	res, err := b.w.HandleBatch(context.Background(), batch(b.pull(t, b.requests, 16, 0)))
	if err != nil || res.Count(worker.Created) != 1 {
		t.Fatalf("err = %v, outcomes %v; want created", err, outcomes(res))
	}
	if tm := b.trackingMessages(t); len(tm) != 1 {
		t.Errorf("tracking messages = %d, want 1", len(tm))
	}
}

func TestInvalidParameterFails(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	if err := b.ens.InjectFault(enssim.Fault{Action: "CreateClusterNodePool", Count: 1, Code: "InvalidParameter.ImageId",
		Message: "The specified ImageId does not exist."}); err != nil {
		t.Fatal(err)
	}
	b.enqueue(t, b.envelope(t, b.request(0, "p1"), "req_p1", time.Now()))
	res, err := b.w.HandleBatch(context.Background(), batch(b.pull(t, b.requests, 16, 0)))
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomes(res); !slices.Equal(got, []worker.Outcome{worker.Failed}) {
		t.Fatalf("outcomes = %v", got)
	}
	evs := b.recv.events()
	if len(evs) != 1 || evs[0].Event.Type != callback.TypeFailed || evs[0].Event.Data.Error == nil ||
		evs[0].Event.Data.Error.Code != "InvalidParameter.ImageId" || evs[0].Event.Data.Error.Message != "The specified ImageId does not exist." {
		t.Fatalf("callbacks = %+v, want one nodepool.failed with the API's code and message", evs)
	}
	if dls := b.deadLetters(t); len(dls) != 1 || dls[0].Code != "InvalidParameter.ImageId" || dls[0].RequestId != "req_p1" {
		t.Errorf("dead letters = %+v", dls)
	}
}

func TestFailedCallbackIsLeftToThePoller(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	b.recv.status.Store(503)
	if err := b.ens.InjectFault(enssim.Fault{Action: "CreateClusterNodePool", Count: 1, Code: "InvalidParameter"}); err != nil {
		t.Fatal(err)
	}
	b.enqueue(t, b.envelope(t, b.request(0, "p1"), "req_p1", time.Now()), b.envelope(t, b.request(0, "p2"), "req_p2", time.Now()))
	if _, err := b.w.HandleBatch(context.Background(), batch(b.pull(t, b.requests, 16, 0))); err != nil {
		t.Fatal(err)
	}
	tms := b.trackingMessages(t)
	if len(tms) != 2 {
		t.Fatalf("tracking messages = %d, want 2", len(tms))
	}
	for _, tm := range tms {
		if len(tm.Deliveries) != 1 || tm.Deliveries[0].State != callback.Pending || len(tm.Deliveries[0].Attempts) != 1 {
			t.Errorf("%s: deliveries %+v, want one pending with one attempt", tm.Name, tm.Deliveries)
			continue
		}
		want := callback.TypeCreating
		if tm.Terminal {
			want = callback.TypeFailed
		}
		if got := tm.Deliveries[0].Event.Type; got != want {
			t.Errorf("%s: pending %s, want %s", tm.Name, got, want)
		}
	}
}

func TestThrottlingStormAllSucceed(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	if err := b.ens.InjectFault(enssim.Fault{Action: "CreateClusterNodePool", Count: 40, Code: "Throttling.User",
		TimeLeft: enssim.Duration{Duration: 50 * time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for i := range 20 {
		bodies = append(bodies, b.envelope(t, b.request(i%3, fmt.Sprintf("storm-%02d", i)), fmt.Sprintf("req_storm%02d", i), time.Now()))
	}
	b.enqueue(t, bodies...)
	created := 0
	for round := 0; round < 5 && created < 20; round++ {
		msgs := b.pull(t, b.requests, 20, time.Minute) // re-queued ones included
		res, err := b.w.HandleBatch(context.Background(), batch(msgs))
		if err != nil {
			t.Fatal(err)
		}
		if n := res.Count(worker.Failed); n > 0 {
			t.Fatalf("round %d: %d failed: %+v", round, n, res.Items)
		}
		created += res.Count(worker.Created)
	}
	if created != 20 {
		t.Fatalf("created = %d, want 20", created)
	}
	if st := b.ens.Stats(); st.FaultsInjected != 40 || st.Pools != 20 {
		t.Errorf("faults = %d, pools = %d; want 40 and 20", st.FaultsInjected, st.Pools)
	}
}

func TestConflictAndAdoption(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	now := time.Now()
	b.enqueue(t, b.envelope(t, b.request(0, "shared"), "req_a", now))
	if _, err := b.w.HandleBatch(context.Background(), batch(b.pull(t, b.requests, 16, 0))); err != nil {
		t.Fatal(err)
	}
	other := b.request(0, "shared")
	other.ScalingGroup.InstanceTypes = []string{"ens.sn1.large"}
	// Same batch: another request adopting, one in conflict, and the first
	// request again (a duplicate delivery).
	b.enqueue(t, b.envelope(t, b.request(0, "shared"), "req_b", now), b.envelope(t, other, "req_c", now),
		b.envelope(t, b.request(0, "shared"), "req_b", now))
	res, err := b.w.HandleBatch(context.Background(), batch(b.pull(t, b.requests, 16, 0)))
	if err != nil {
		t.Fatal(err)
	}
	byReq := map[string][]worker.Outcome{}
	for _, it := range res.Items {
		byReq[it.RequestId] = append(byReq[it.RequestId], it.Outcome)
		if it.Outcome == worker.Failed && (it.Code != worker.CodeConflict || !strings.Contains(it.Reason, "ScalingGroup.InstanceTypes")) {
			t.Errorf("conflict item = %+v", it)
		}
	}
	if got := byReq["req_b"]; !slices.Equal(got, []worker.Outcome{worker.Adopted, worker.Duplicate}) {
		t.Errorf("req_b = %v, want adopted then duplicate", got)
	}
	if got := byReq["req_c"]; !slices.Equal(got, []worker.Outcome{worker.Failed}) {
		t.Errorf("req_c = %v, want failed", got)
	}
	if n := b.createCounts()["eck-demo0001/shared"]; n != 1 {
		t.Errorf("creates = %d, want 1", n)
	}
}

func TestSamePoolTwiceInOneBatchCreatesOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	now := time.Now()
	b.enqueue(t, b.envelope(t, b.request(2, "twin"), "req_1", now), b.envelope(t, b.request(2, "twin"), "req_2", now))
	res, err := b.w.HandleBatch(context.Background(), batch(b.pull(t, b.requests, 16, 0)))
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomes(res); !slices.Equal(got, []worker.Outcome{worker.Created, worker.Adopted}) {
		t.Fatalf("outcomes = %v", got)
	}
	if res.Items[0].NodepoolId != res.Items[1].NodepoolId {
		t.Errorf("nodepool ids differ: %+v", res.Items)
	}
}

// TestShortTimeoutStillWorks: a function timeout shorter than Reserve
// (10 s by default) must not leave ENS calls a deadline in the past.
func TestShortTimeoutStillWorks(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	b.enqueue(t, b.envelope(t, b.request(0, "quick"), "req_quick", time.Now()))
	w := b.withWorker(t, func(c *worker.Config) { c.Reserve = 10 * time.Second })
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
	defer cancel()
	res, err := w.HandleBatch(ctx, batch(b.pull(t, b.requests, 16, 0)))
	if err != nil || res.Count(worker.Created) != 1 {
		t.Fatalf("err = %v, outcomes %v; want created within a 6 s timeout", err, outcomes(res))
	}
}

func TestTransientFailuresRequeueUntilTheDeadline(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	if err := b.ens.InjectFault(enssim.Fault{Action: "CreateClusterNodePool", Count: 1000, Code: "ServiceUnavailable", Status: 503}); err != nil {
		t.Fatal(err)
	}
	fresh := b.envelope(t, b.request(0, "fresh"), "req_fresh", time.Now())
	stale := b.envelope(t, b.request(1, "stale"), "req_stale", time.Now().Add(-2*time.Hour))
	b.enqueue(t, fresh, stale, b.envelope(t, b.request(2, "other"), "req_other", time.Now()))
	// A short budget: 1 s for ENS calls after the 1 s reserve.
	w := b.withWorker(t, func(c *worker.Config) { c.Reserve = time.Second })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	res, err := w.HandleBatch(ctx, batch(b.pull(t, b.requests, 16, 0)))
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("HandleBatch took %v, beyond the invocation deadline", el)
	}
	byReq := map[string]worker.Item{}
	for _, it := range res.Items {
		byReq[it.RequestId] = it
	}
	if o := byReq["req_fresh"].Outcome; o != worker.Requeued {
		t.Errorf("fresh = %s, want requeued", o)
	}
	if it := byReq["req_stale"]; it.Outcome != worker.Failed || it.Code != "ServiceUnavailable" {
		t.Errorf("stale = %+v, want failed with the last API code", it)
	}
	again := b.pull(t, b.requests, 16, time.Minute)
	if len(again) != 2 {
		t.Fatalf("requests queue holds %d, want the 2 re-queued", len(again))
	}
	if again[0].Body != fresh && again[1].Body != fresh {
		t.Error("the re-queued body differs from the original envelope")
	}
}

func TestMalformedPayloadIsDeadLettered(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	res, err := b.w.HandlePayload(context.Background(), []byte(`not an event {"Password":"hunter2-Hunter"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomes(res); !slices.Equal(got, []worker.Outcome{worker.Rejected}) {
		t.Fatalf("outcomes = %v", got)
	}
	dls := b.deadLetters(t)
	if len(dls) != 1 || dls[0].Code != worker.CodeUndecodable || dls[0].Body != "" || !dls[0].BodyWithheld {
		t.Fatalf("dead letters = %+v, want the payload withheld", dls)
	}
	if got, err := b.sealer.Open(dls[0].BodySealed); err != nil || !strings.Contains(got, "hunter2") {
		t.Errorf("BodySealed opens to %q, %v; want the payload", got, err)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	if _, err := worker.New(worker.Config{}); !errors.Is(err, worker.ErrConfig) || !strings.Contains(err.Error(), "Pools") {
		t.Errorf("New(zero) = %v, want ErrConfig naming Pools", err)
	}
}
