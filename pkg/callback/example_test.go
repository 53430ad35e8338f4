package callback_test

import (
	"fmt"
	"log"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/ensnodepool/webhook/pkg/callback"
)

// ExampleSigner_receiver signs a callback as the poller does and checks it
// as a caller's receiver would, with the Standard Webhooks reference
// library (https://github.com/standard-webhooks/standard-webhooks) and the
// shared CALLBACK_SECRET: verify the raw body, then decode it, then
// deduplicate on webhook-id.
func ExampleSigner_receiver() {
	const secret = "whsec_ZW5zLW5vZGVwb29sLWV4YW1wbGUtc2VjcmV0IQ=="
	ev := callback.Event{
		Type:      callback.TypeActive,
		Timestamp: time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC),
		Data: callback.EventData{RequestId: "req_6fdpl4ntgum6tgmmalbnu7epg5", ClusterId: "eck-xxxxxxxx",
			Name: "edge-pool", NodepoolId: "np-0123456789abcdef", Sequence: 2},
	}

	// The sender's side.
	body, err := ev.Body()
	if err != nil {
		log.Fatal(err)
	}
	signer, err := callback.NewSigner(secret)
	if err != nil {
		log.Fatal(err)
	}
	headers, err := signer.Headers(ev.MessageID(), time.Now(), body)
	if err != nil {
		log.Fatal(err)
	}

	// The receiver's side, with nothing of this module.
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		log.Fatal(err)
	}
	if err := wh.Verify(body, headers); err != nil {
		log.Fatal(err)
	}
	got, err := callback.ParseEvent(body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("webhook-id:", headers.Get("webhook-id"))
	fmt.Println("body:", string(body))
	fmt.Printf("verified %s for %s/%s (event %d)\n", got.Type, got.Data.ClusterId, got.Data.Name, got.Data.Sequence)

	// A body changed on the way fails verification.
	tampered := []byte(string(body[:len(body)-1]) + " }")
	fmt.Println("tampered body verifies:", wh.Verify(tampered, headers) == nil)
	// Output:
	// webhook-id: msg_5a5212d4702777d276e9012d77271625
	// body: {"type":"nodepool.active","timestamp":"2026-05-04T12:00:00Z","data":{"RequestId":"req_6fdpl4ntgum6tgmmalbnu7epg5","ClusterId":"eck-xxxxxxxx","Name":"edge-pool","NodepoolId":"np-0123456789abcdef","Sequence":2}}
	// verified nodepool.active for eck-xxxxxxxx/edge-pool (event 2)
	// tampered body verifies: false
}
