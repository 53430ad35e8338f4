package worker_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/nodepool"
	"github.com/ensnodepool/webhook/pkg/worker"
)

// handle runs one batch of everything queued and returns its items.
func (b *bundle) handle(t *testing.T) []worker.Item {
	t.Helper()
	res, err := b.w.HandleBatch(context.Background(), batch(b.pull(t, b.requests, 16, 0)))
	if err != nil {
		t.Fatal(err)
	}
	return res.Items
}

// failedEvents returns the nodepool.failed callbacks for requestID.
func (b *bundle) failedEvents(requestID string) []callback.Event {
	var out []callback.Event
	for _, r := range b.recv.events() {
		if r.Event.Type == callback.TypeFailed && r.Event.Data.RequestId == requestID {
			out = append(out, r.Event)
		}
	}
	return out
}

// TestUnknownSealKeyFailsAtOnce: an envelope sealed with a key id the
// worker does not hold is failed in the same batch with UnknownSealKey
// (callback and dead letter), not re-queued until the pool deadline.
func TestUnknownSealKeyFailsAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	keys, err := nodepool.ParseKeys("k9:CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=")
	if err != nil {
		t.Fatal(err)
	}
	other, err := nodepool.NewSealer(keys)
	if err != nil {
		t.Fatal(err)
	}
	req := b.request(0, "sealed-elsewhere")
	req.ScalingGroup.KeyPairName, req.ScalingGroup.Password = "", "Marker#Pa55word"
	env, err := nodepool.NewEnvelope(req, "req_k9", nodepool.SourceQueue, time.Now(), other)
	if err != nil {
		t.Fatal(err)
	}
	body, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	b.enqueue(t, string(body))
	items := b.handle(t)
	if len(items) != 1 || items[0].Outcome != worker.Rejected || items[0].Code != worker.CodeUnknownSealKey ||
		!strings.Contains(items[0].Reason, `"k9"`) || !strings.Contains(items[0].Reason, "SEAL_KEYS") {
		t.Fatalf("items = %+v, want rejected with UnknownSealKey naming k9 and SEAL_KEYS", items)
	}
	if evs := b.failedEvents("req_k9"); len(evs) != 1 || evs[0].Data.Error.Code != callback.CodeUnknownSealKey {
		t.Errorf("failed callbacks = %+v", evs)
	}
	if dls := b.deadLetters(t); len(dls) != 1 || dls[0].Code != callback.CodeUnknownSealKey {
		t.Errorf("dead letters = %+v", dls)
	}
	if left := b.pull(t, b.requests, 16, time.Hour); len(left) != 0 {
		t.Errorf("%d messages re-queued, want none", len(left))
	}
	if n := len(b.ens.Stats().Creates); n != 0 {
		t.Errorf("creates = %d", n)
	}
}

// TestReusedRequestIdWithAnotherBody: the same RequestId (one
// Idempotency-Key) with another body — another size for the same pool, or
// another pool — fails with IdempotencyKeyReused instead of being adopted
// or creating a second pool under that RequestId; the same body again
// (a redelivery) still succeeds.
func TestReusedRequestIdWithAnotherBody(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	now := time.Now()
	b.enqueue(t, b.envelope(t, b.request(0, "keyed"), "req_key", now))
	if items := b.handle(t); items[0].Outcome != worker.Created {
		t.Fatalf("first: %+v", items)
	}
	bigger := b.request(0, "keyed")
	bigger.ScalingGroup.DesiredSize = 5
	// Same batch: a redelivery of the first, another size, another pool.
	b.enqueue(t, b.envelope(t, b.request(0, "keyed"), "req_key", now), b.envelope(t, bigger, "req_key", now),
		b.envelope(t, b.request(1, "second-pool"), "req_key", now))
	items := b.handle(t)
	var got []worker.Outcome
	for _, it := range items {
		got = append(got, it.Outcome)
		if it.Outcome == worker.Failed && it.Code != worker.CodeIdempotencyKeyReused {
			t.Errorf("failed item %+v, want code IdempotencyKeyReused", it)
		}
	}
	if want := []worker.Outcome{worker.Adopted, worker.Failed, worker.Failed}; !slices.Equal(got, want) {
		t.Fatalf("outcomes = %v, want %v", got, want)
	}
	if evs := b.failedEvents("req_key"); len(evs) == 0 || evs[0].Data.Error.Code != callback.CodeIdempotencyKeyReused {
		t.Errorf("failed callbacks = %+v", evs)
	}
	if c := b.createCounts(); c["eck-demo0001/keyed"] != 1 || c["eck-east0002/second-pool"] != 0 {
		t.Errorf("creates = %v, want one pool", c)
	}
}

// TestConflictListsEveryDifferingField: a request for an existing pool is
// adopted only when every field it states matches what ENS reports; the
// DesiredSize (ENS: Status.DesiredNodes) and the bootstrap scripts count,
// and the Conflict names each differing field. A request that leaves
// DesiredSize out adopts the pool whatever its size.
func TestConflictListsEveryDifferingField(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	now := time.Now()
	first := b.request(0, "spec")
	first.KubernetesConfig = &nodepool.KubernetesConfig{UserData: "ZWNobyBvawo="}
	b.enqueue(t, b.envelope(t, first, "req_1", now))
	b.handle(t)

	resized := b.request(0, "spec")
	resized.ScalingGroup.DesiredSize = 7
	resized.KubernetesConfig = &nodepool.KubernetesConfig{UserData: "ZWNobyBvdGhlcgo="}
	unsized := first.Clone()
	unsized.ScalingGroup.DesiredSize = 0
	b.enqueue(t, b.envelope(t, resized, "req_2", now), b.envelope(t, unsized, "req_3", now))
	items := b.handle(t)
	if items[0].Outcome != worker.Failed || items[0].Code != worker.CodeConflict ||
		!strings.Contains(items[0].Reason, "ScalingGroup.DesiredSize, KubernetesConfig.UserData") {
		t.Errorf("resized: %+v, want Conflict naming ScalingGroup.DesiredSize and KubernetesConfig.UserData", items[0])
	}
	if evs := b.failedEvents("req_2"); len(evs) != 1 || evs[0].Data.Error.Code != callback.CodeConflict ||
		!strings.Contains(evs[0].Data.Error.Message, "ScalingGroup.DesiredSize") {
		t.Errorf("conflict callbacks = %+v", evs)
	}
	if items[1].Outcome != worker.Adopted {
		t.Errorf("no DesiredSize: %+v, want adopted", items[1])
	}
}

// TestUnknownClusterIsClusterNotFound: the worker reports a cluster ENS
// does not know with the same code as the poller, not ENS's own.
func TestUnknownClusterIsClusterNotFound(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	req := b.request(0, "nowhere")
	req.ClusterId = "eck-nowhere1"
	b.enqueue(t, b.envelope(t, req, "req_nowhere", time.Now()))
	items := b.handle(t)
	if items[0].Outcome != worker.Failed || items[0].Code != callback.CodeClusterNotFound {
		t.Fatalf("items = %+v", items)
	}
	if evs := b.failedEvents("req_nowhere"); len(evs) != 1 || evs[0].Data.Error.Code != callback.CodeClusterNotFound || evs[0].Data.NodepoolId != "" {
		t.Errorf("callbacks = %+v", evs)
	}
}

// TestCreatingCarriesTheRegion: nodepool.creating has the ENS region and
// the status ENS answered with.
func TestCreatingCarriesTheRegion(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	b.enqueue(t, b.envelope(t, b.request(1, "regional"), "req_r", time.Now()))
	b.handle(t)
	evs := b.recv.events()
	if len(evs) != 1 || evs[0].Event.Type != callback.TypeCreating || evs[0].Event.Data.EnsRegionId != "cn-shanghai-10" ||
		evs[0].Event.Data.NodepoolId == "" || evs[0].Event.Data.Status == nil {
		t.Fatalf("callbacks = %+v", evs)
	}
	tms := b.trackingMessages(t)
	if len(tms) != 1 || tms[0].EnsRegionId != "cn-shanghai-10" {
		t.Errorf("tracking = %+v", tms)
	}
}
