package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/ensnodepool/webhook/pkg/dev/otssim"
	"github.com/ensnodepool/webhook/pkg/ledger"
)

// How intake admits a request: reserve the key, check the quotas, queue,
// then MarkQueued (or Release when nothing was queued). A replay of the key
// is answered with the first RequestId; another body under it is refused.
func Example() {
	sim, _ := otssim.New(otssim.Config{AccessKeyID: "ak", AccessKeySecret: "sk"})
	defer sim.Close()
	srv := httptest.NewServer(sim)
	defer srv.Close()

	ctx := context.Background()
	l, err := ledger.Open(ctx, ledger.Config{Endpoint: srv.URL, Instance: "example",
		Credentials: func() ledger.Credentials { return ledger.Credentials{AccessKeyID: "ak", AccessKeySecret: "sk"} }})
	if err != nil {
		panic(err)
	}
	defer l.Close()
	if _, _, err := l.EnsureTable(ctx); err != nil {
		panic(err)
	}

	admit := func(requestID, digest string) string {
		r := ledger.Reservation{Caller: "portal", Key: "order-42", Digest: digest, RequestId: requestID,
			ClusterId: "eck-demo0001", Name: "edge-pool", Request: []byte(`{"ClusterId":"eck-demo0001"}`),
			At: time.Now(), Deadline: time.Now().Add(time.Hour)}
		res, err := l.Reserve(ctx, r)
		switch {
		case errors.Is(err, ledger.ErrKeyReused):
			return "422: " + err.Error()
		case err != nil:
			return "503 or 409: " + err.Error()
		case res.Queued:
			return "202 (replay): " + res.RequestId
		}
		if err := l.Quota(ctx, "portal", ledger.Limits{PerMinute: 10, InFlight: 5}); err != nil {
			_ = l.Release(ctx, res)
			return "429: " + err.Error()
		}
		// … send the request to the queue under res.RequestId …
		if err := l.MarkQueued(ctx, res); err != nil {
			// Accepted all the same: keep ledger.QueuedRecord(res) for the outbox.
			return "202 (record pending): " + res.RequestId
		}
		return "202: " + res.RequestId
	}
	fmt.Println(admit("req_a", "digest-1"))
	fmt.Println(admit("req_b", "digest-1"))
	fmt.Println(admit("req_c", "digest-2"))

	rec, _ := l.Get(ctx, "req_a")
	fmt.Println(rec.RequestId, rec.Caller, rec.State)
	// Output:
	// 202: req_a
	// 202 (replay): req_a
	// 422: ledger: idempotency key reused with another body (first request req_a)
	// req_a portal accepted
}
