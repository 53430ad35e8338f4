package worker_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/dev/enssim"
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

// TestENSMessageHidesPassword: an ENS error that quotes the password it
// refused (as is or URL-encoded) reaches the callback, the dead letter and
// the log with the password masked.
func TestENSMessageHidesPassword(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	const pw = `Zq8!pw "x"&=+`
	quoted, _ := json.Marshal(pw) // HTML-escaped: \u0026
	if err := b.ens.InjectFault(enssim.Fault{Action: "CreateClusterNodePool", Count: 1, Code: "InvalidParameter.Password", Status: 400,
		Message: "The specified Password " + pw + " is invalid (ScalingGroup=" + url.QueryEscape(`{"Password":"`+strings.ReplaceAll(pw, `"`, `\"`)+`"}`) + ", got " + url.PathEscape(string(quoted)) + ")"}); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	w := b.withWorker(t, func(c *worker.Config) { c.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) })
	req := b.request(0, "pw-refused")
	req.ScalingGroup.KeyPairName, req.ScalingGroup.Password = "", pw
	b.enqueue(t, b.envelope(t, req, "req_pw_refused", time.Now()))
	res, err := w.HandleBatch(context.Background(), batch(b.pull(t, b.requests, 16, 0)))
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomes(res); !slices.Equal(got, []worker.Outcome{worker.Failed}) || !strings.Contains(res.Items[0].Reason, "******") {
		t.Fatalf("outcomes = %v, reason %q; want failed with the password masked", got, res.Items[0].Reason)
	}
	evs := b.recv.events()
	if len(evs) != 1 || evs[0].Event.Data.Error == nil {
		t.Fatalf("callbacks = %+v, want one nodepool.failed", evs)
	}
	dls := b.deadLetters(t)
	if len(dls) != 1 {
		t.Fatalf("dead letters = %d, want 1", len(dls))
	}
	ev, _ := json.Marshal(evs[0].Event)
	dl, _ := json.Marshal(dls[0])
	for where, text := range map[string]string{"callback": string(ev), "dead letter": string(dl), "log": logs.String()} {
		for _, form := range []string{"Zq8", url.QueryEscape("Zq8")} {
			if strings.Contains(text, form) {
				t.Errorf("%s keeps the password: %s", where, text)
			}
		}
	}
}
