package nodepool

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestSubmit: the envelope on the queue carries the password sealed and
// the given RequestId; a queue failure matches ErrNotSent, an envelope
// failure does not.
func TestSubmit(t *testing.T) {
	t.Parallel()
	s := testSealer(t, testKeys, false)
	req := mustDecode(t, "ens-doc-example.json")
	var body string
	q := SenderFunc(func(_ context.Context, b string) (string, error) { body = b; return "msg-1", nil })
	id, err := Submit(context.Background(), q, Submission{Request: req, RequestID: "req_x", Source: SourceQueue, ReceivedAt: receivedAt, Sealer: s})
	if err != nil || id != "msg-1" {
		t.Fatalf("Submit = %q, %v", id, err)
	}
	env, err := Parse([]byte(body))
	if err != nil || env.RequestId != "req_x" || env.Source != SourceQueue {
		t.Fatalf("envelope %+v, %v", env, err)
	}
	if pw := req.ScalingGroup.Password; pw == "" || strings.Contains(body, pw) || env.SealedPassword == "" {
		t.Errorf("password not sealed on the queue: %s", body)
	}

	down := SenderFunc(func(context.Context, string) (string, error) { return "", errors.New("connection refused") })
	if _, err := Submit(context.Background(), down, Submission{Request: req, RequestID: "req_x", Source: SourceQueue, ReceivedAt: receivedAt, Sealer: s}); !errors.Is(err, ErrNotSent) {
		t.Errorf("queue down: err = %v, want ErrNotSent", err)
	}
	if _, err := Submit(context.Background(), q, Submission{Request: req, RequestID: "req_x", Source: SourceQueue, ReceivedAt: receivedAt}); err == nil || errors.Is(err, ErrNotSent) {
		t.Errorf("password without a sealer: err = %v, want an envelope error", err)
	}
}
