package worker_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ensnodepool/webhook/pkg/worker"
)

// TestDeadLetterBodies: whatever a producer puts on the queue, the dead
// letter keeps no password — JSON bodies with password members masked by
// structure (escaped names, any case, nested in arrays, duplicated), other
// bodies withheld: only their size and, with a sealing key, the body sealed.
func TestDeadLetterBodies(t *testing.T) {
	t.Parallel()
	const pw = "Zq8-dead-letter-pw"
	jsonBody := `{"Version":1,"RequestId":"req_escaped","ReceivedAt":"2026-01-02T03:04:05Z","Source":"queue",` +
		`"Request":{"ClusterId":"eck-demo0001","NodepoolInfo":{"Name":"p"},"ScalingGroup":{"Pass\u0077ord":"` + pw + `"}},` +
		`"X":[[[[{"pA\u017fSWORD":"` + pw + `","password":"` + pw + `"}]]]]}`
	notJSON := `Password=` + pw + `&ClusterId=eck-demo0001`
	brokenB64 := base64.StdEncoding.EncodeToString([]byte(`{"Password":"` + pw + `"`))
	for _, sealing := range []bool{true, false} {
		b := setup(t, options{})
		w := b.w
		if !sealing {
			w = b.withWorker(t, func(c *worker.Config) { c.Sealer = nil })
		}
		b.enqueue(t, jsonBody, notJSON, brokenB64)
		if _, err := w.HandleBatch(context.Background(), batch(b.pull(t, b.requests, 16, 0))); err != nil {
			t.Fatal(err)
		}
		dls := b.deadLetters(t)
		if len(dls) != 3 {
			t.Fatalf("dead letters = %d, want 3", len(dls))
		}
		for _, dl := range dls {
			rec, _ := json.Marshal(dl)
			if strings.Contains(string(rec), pw) || strings.Contains(string(rec), "dead-letter-pw") {
				t.Errorf("dead letter keeps the password: %s", rec)
			}
			switch {
			case dl.BodySize == len(jsonBody):
				if dl.BodyWithheld || !json.Valid([]byte(dl.Body)) || strings.Count(dl.Body, `"******"`) != 3 {
					t.Errorf("JSON body not masked by structure: %s", rec)
				}
			case dl.BodySize == len(notJSON) || dl.BodySize == len(brokenB64):
				if !dl.BodyWithheld || dl.Body != "" {
					t.Errorf("unparseable body kept: %s", rec)
				}
				if !sealing {
					if dl.BodySealed != "" {
						t.Errorf("sealed without a key: %s", rec)
					}
					continue
				}
				got, err := b.sealer.Open(dl.BodySealed)
				if err != nil || (got != notJSON && got != brokenB64) {
					t.Errorf("BodySealed opens to %q, %v", got, err)
				}
			default:
				t.Errorf("unexpected dead letter %s", rec)
			}
		}
	}
}
