package intake

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// FuzzVerify: whatever the webhook headers and body, the handler never
// panics and never answers 2xx unless the signature header carries the
// reference library's v1 signature of (id, timestamp, body) under one of
// the configured secrets, with the timestamp within tolerance. Seeds:
// testdata/fuzz/FuzzVerify.
func FuzzVerify(f *testing.F) {
	body := readFile(f, "ens-doc-example.json")
	ts := strconv.FormatInt(testNow.Unix(), 10)
	wh, _ := standardwebhooks.NewWebhook(secretNew)
	good, _ := wh.Sign("msg_1", testNow, body)
	f.Add("msg_1", ts, good, body)
	f.Add("msg_1", ts, "v1a,xyz "+good, body)
	f.Add("msg_1", ts, strings.ToUpper(good), body)
	f.Add("", "", "", []byte(nil))
	b := setup(f)
	var hooks []*standardwebhooks.Webhook
	for _, s := range []string{secretNew, secretOld} {
		w, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			f.Fatal(err)
		}
		hooks = append(hooks, w)
	}
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/v1/nodepools", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		// Header values with CR/LF cannot be sent on the wire; keep them
		// out as net/http would.
		for k, v := range map[string]string{HeaderWebhookID: id, HeaderWebhookTimestamp: ts, HeaderWebhookSignature: sig} {
			if strings.ContainsAny(v, "\r\n\x00") {
				return
			}
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		b.h.ServeHTTP(w, r)
		if w.Code < 200 || w.Code > 299 {
			return
		}
		sec, err := strconv.ParseInt(strings.TrimSpace(ts), 10, 64)
		if err != nil {
			t.Fatalf("2xx with timestamp %q", ts)
		}
		at := time.Unix(sec, 0)
		if d := testNow.Sub(at); d > 5*time.Minute || d < -5*time.Minute {
			t.Fatalf("2xx with timestamp %v", at)
		}
		offered := strings.Fields(sig)
		for _, h := range hooks {
			want, _ := h.Sign(strings.TrimSpace(id), at, body)
			if slices.Contains(offered, want) {
				return
			}
		}
		t.Fatalf("2xx without a valid signature: id=%q ts=%q sig=%q", id, ts, sig)
	})
}

// FuzzHandlerBody: any correctly signed body gets 202, 400 or 413, never
// a panic or 5xx, and 202 exactly when the body decodes and validates; an
// accepted body's envelope parses. Seeds: testdata/fuzz/FuzzHandlerBody.
func FuzzHandlerBody(f *testing.F) {
	f.Add(readFile(f, "ens-doc-example.json"))
	f.Add(readFile(f, "full.json"))
	b := setup(f)
	v := nodepool.NewValidator(nodepool.ValidationConfig{})
	f.Fuzz(func(t *testing.T, body []byte) {
		before := len(b.queue.Received(t))
		r := post(t, body)
		// One key per body: the same key with another body is refused (422).
		r.Header.Set("Idempotency-Key", fmt.Sprintf("fuzz-%x", sha256.Sum256(body)))
		w := b.do(r)
		req, err := nodepool.Decode(body)
		if err == nil {
			err = v.Validate(req)
		}
		switch {
		case len(body) > 64<<10:
			if w.Code != http.StatusRequestEntityTooLarge {
				t.Fatalf("big body: %d", w.Code)
			}
		case err == nil:
			if w.Code != http.StatusAccepted {
				t.Fatalf("valid body answered %d: %s", w.Code, w.Body)
			}
			msgs := b.queue.Received(t)
			if len(msgs) != before+1 {
				t.Fatalf("queue %d → %d", before, len(msgs))
			}
			if _, err := nodepool.Parse([]byte(msgs[len(msgs)-1])); err != nil {
				t.Fatalf("queued envelope does not parse: %v", err)
			}
		default:
			if w.Code != http.StatusBadRequest {
				t.Fatalf("invalid body answered %d: %s", w.Code, w.Body)
			}
			if len(b.queue.Received(t)) != before {
				t.Fatal("invalid body queued")
			}
		}
	})
}
