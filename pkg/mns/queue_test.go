package mns_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/clock"
	"github.com/ensnodepool/webhook/pkg/dev/mnssim"
	"github.com/ensnodepool/webhook/pkg/mns"
)

const (
	testAK = "test-ak"
	testSK = "test-secret"
)

type testBundle struct {
	srv    *mnssim.Server
	url    string
	client *mns.Client
}

// setup serves mnssim on a loopback port (durable under dir, or in memory) and returns a client
// pointed at it with a plain http://127.0.0.1:PORT endpoint.
func setup(t testing.TB, dir string) *testBundle {
	t.Helper()
	srv, err := mnssim.New(mnssim.Config{AccessKeyID: testAK, AccessKeySecret: testSK, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		srv.CancelPolls()
		hs.Close()
		_ = srv.Close()
	})
	c, err := mns.New(mns.Config{Endpoint: hs.URL, Credentials: mns.Credentials{AccessKeyID: testAK, AccessKeySecret: testSK}})
	if err != nil {
		t.Fatal(err)
	}
	return &testBundle{srv: srv, url: hs.URL, client: c}
}

func mustQueue(t testing.TB, c *mns.Client, name string, a mns.QueueAttributes, opts ...mns.Option) *mns.Queue {
	t.Helper()
	if err := c.EnsureQueue(context.Background(), name, a); err != nil {
		t.Fatalf("EnsureQueue %s: %v", name, err)
	}
	return c.Queue(name, opts...)
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	creds := mns.Credentials{AccessKeyID: "a", AccessKeySecret: "b"}
	tests := []struct {
		name string
		cfg  mns.Config
		ok   bool
	}{
		{"local", mns.Config{Endpoint: "http://127.0.0.1:9100", Credentials: creds}, true},
		{"localhost", mns.Config{Endpoint: "http://localhost:9100", Credentials: creds}, true},
		{"real", mns.Config{Endpoint: "https://123.mns.cn-hangzhou.aliyuncs.com", Credentials: creds}, true},
		{"no endpoint", mns.Config{Credentials: creds}, false},
		{"path", mns.Config{Endpoint: "http://127.0.0.1:9100/x", Credentials: creds}, false},
		{"no creds", mns.Config{Endpoint: "http://127.0.0.1:9100"}, false},
		{"short timeout", mns.Config{Endpoint: "http://127.0.0.1:9100", Credentials: creds, Timeout: 30 * time.Second}, false},
	}
	for _, tt := range tests {
		_, err := mns.New(tt.cfg)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, mns.ErrConfig)) {
			t.Errorf("%s: err %v, want ok=%v (or ErrConfig)", tt.name, err, tt.ok)
		}
	}
}

func TestSendReceiveDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, "")
	q := mustQueue(t, b.client, "work", mns.QueueAttributes{VisibilityTimeout: 30 * time.Second})
	if err := b.client.EnsureQueue(ctx, "work", mns.QueueAttributes{VisibilityTimeout: 30 * time.Second}); err != nil {
		t.Fatalf("EnsureQueue again: %v", err)
	}
	if err := b.client.EnsureQueue(ctx, "work", mns.QueueAttributes{VisibilityTimeout: time.Minute}); err != nil {
		t.Fatalf("EnsureQueue with other attributes: %v", err)
	}
	msgs, err := q.Receive(ctx, 16, 0)
	if err != nil || msgs != nil {
		t.Fatalf("empty receive: %v %v", msgs, err)
	}
	res, err := q.Send(ctx, "hello", 0)
	if err != nil || res.MessageID == "" || res.BodyMD5 != "5D41402ABC4B2A76B9719D911017C592" {
		t.Fatalf("send: %+v %v", res, err)
	}
	msgs, err = q.Receive(ctx, 16, time.Second)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("receive: %v %v", msgs, err)
	}
	m := msgs[0]
	if m.ID != res.MessageID || m.Body != "hello" || m.DequeueCount != 1 || m.EnqueueTime.IsZero() ||
		m.NextVisibleTime.Sub(m.FirstDequeueTime) != 30*time.Second {
		t.Fatalf("message: %+v", m)
	}
	nr, err := q.ChangeVisibility(ctx, m.ReceiptHandle, 5*time.Second)
	if err != nil || nr == m.ReceiptHandle {
		t.Fatalf("change visibility: %q %v", nr, err)
	}
	if err := q.Delete(ctx, m.ReceiptHandle); !errors.Is(err, mns.ErrStaleReceipt) {
		t.Fatalf("stale delete: %v", err)
	}
	if _, err := q.ChangeVisibility(ctx, "garbage", time.Second); !errors.Is(err, mns.ErrStaleReceipt) {
		t.Fatalf("garbage handle: %v", err)
	}
	if err := q.Delete(ctx, nr); err != nil {
		t.Fatal(err)
	}
	a, err := q.Attributes(ctx)
	if err != nil || a.Name != "work" || a.VisibilityTimeout != 30*time.Second || a.Active+a.Inactive+a.Delayed != 0 || a.CreateTime.IsZero() {
		t.Fatalf("attributes: %+v %v", a, err)
	}
}

func TestErrorCodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, "")
	q := mustQueue(t, b.client, "q", mns.QueueAttributes{})
	if _, err := b.client.Queue("missing").Send(ctx, "x", 0); !errors.Is(err, mns.ErrNotFound) {
		t.Errorf("missing queue: %v", err)
	}
	if _, err := b.client.Queue("missing").Receive(ctx, 1, 0); !errors.Is(err, mns.ErrNotFound) {
		t.Errorf("missing queue receive: %v", err)
	}
	if _, err := q.Send(ctx, strings.Repeat("x", 65537), 0); !errors.Is(err, mns.ErrInvalid) {
		t.Errorf("oversize: %v", err)
	}
	bad := b.client.WithCredentials(mns.Credentials{AccessKeyID: testAK, AccessKeySecret: "wrong"})
	if _, err := bad.Queue("q").Send(ctx, "x", 0); !errors.Is(err, mns.ErrDenied) {
		t.Errorf("bad secret: %v", err)
	}
	sts := b.client.WithCredentials(mns.Credentials{AccessKeyID: testAK, AccessKeySecret: testSK, SecurityToken: "token"})
	if _, err := sts.Queue("q").Send(ctx, "x", 0); err != nil {
		t.Errorf("STS credentials: %v", err)
	}
	if _, err := b.client.WithCredentials(mns.Credentials{}).Queue("q").Send(ctx, "x", 0); !errors.Is(err, mns.ErrDenied) {
		t.Errorf("empty credentials: %v", err)
	}
	down, err := mns.New(mns.Config{Endpoint: "http://127.0.0.1:1", Credentials: mns.Credentials{AccessKeyID: testAK, AccessKeySecret: testSK}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := down.Queue("q").Send(ctx, "x", 0); !errors.Is(err, mns.ErrUnavailable) {
		t.Errorf("service down: %v", err)
	}
	var qe *mns.Error
	if _, err := b.client.Queue("missing").Send(ctx, "x", 0); !errors.As(err, &qe) || qe.MNSCode != "QueueNotExist" {
		t.Errorf("Error fields: %#v", err)
	}
}

func TestBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, "")
	q := mustQueue(t, b.client, "q", mns.QueueAttributes{})
	out := make([]mns.Outgoing, 40) // more than one request's worth
	for i := range out {
		out[i] = mns.Outgoing{Body: strings.Repeat("b", 5000)}
	}
	out[7].Body = strings.Repeat("x", 65537)
	res, err := q.SendBatch(ctx, out)
	var be *mns.BatchError
	if !errors.Is(err, mns.ErrPartial) || !errors.Is(err, mns.ErrInvalid) || !errors.As(err, &be) || len(be.Items) != 1 || be.Items[0].Index != 7 {
		t.Fatalf("partial send: %v", err)
	}
	if len(res) != 40 || res[7].Err == nil || res[6].MessageID == "" || res[39].MessageID == "" {
		t.Fatalf("results: %+v", res[6:8])
	}
	var handles []string
	for len(handles) < 39 {
		msgs, err := q.Receive(ctx, 16, time.Second)
		if err != nil || len(msgs) == 0 {
			t.Fatalf("receive after %d: %v", len(handles), err)
		}
		for _, m := range msgs {
			handles = append(handles, m.ReceiptHandle)
		}
	}
	err = q.DeleteBatch(ctx, append(handles, handles[0]))
	if !errors.Is(err, mns.ErrPartial) || !errors.Is(err, mns.ErrStaleReceipt) || !errors.As(err, &be) || len(be.Items) != 1 || be.Items[0].Index != 39 {
		t.Fatalf("partial delete: %v", err)
	}
	a, _ := q.Attributes(ctx)
	if a.Active+a.Inactive != 0 {
		t.Fatalf("left over: %+v", a)
	}
}

func TestDeadLetterMirror(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, "")
	dlq := mustQueue(t, b.client, "dlq", mns.QueueAttributes{})
	q := mustQueue(t, b.client, "src", mns.QueueAttributes{VisibilityTimeout: time.Second},
		mns.WithDeadLetter(mns.DeadLetterPolicy{Queue: "dlq", MaxReceiveCount: 1}))
	if _, err := q.Send(ctx, "poison", 0); err != nil {
		t.Fatal(err)
	}
	msgs, err := q.Receive(ctx, 1, time.Second)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("first receive: %v %v", msgs, err)
	}
	msgs, err = q.Receive(ctx, 1, 3*time.Second) // redelivered after 1 s: dead-lettered, not returned
	if err != nil || msgs != nil {
		t.Fatalf("second receive: %v %v", msgs, err)
	}
	msgs, err = dlq.Receive(ctx, 1, time.Second)
	if err != nil || len(msgs) != 1 || msgs[0].Body != "poison" {
		t.Fatalf("dead letter: %v %v", msgs, err)
	}
	a, _ := q.Attributes(ctx)
	if a.Active+a.Inactive != 0 {
		t.Fatalf("source not empty: %+v", a)
	}
}

func TestReceiveHonoursContext(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	q := mustQueue(t, b.client, "q", mns.QueueAttributes{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := q.Receive(ctx, 1, 20*time.Second)
	if !errors.Is(err, context.Canceled) || time.Since(start) > 2*time.Second {
		t.Fatalf("got %v after %v", err, time.Since(start))
	}
	if _, err := q.Send(ctx, "x", 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("send after cancel: %v", err)
	}
}

// TestSendRetry: every send of a queue retries what may pass (the service
// failing or throttling the whole request) within Config.SendRetry, on the
// injected clock, and nothing else: a refused request, a negative window.
func TestSendRetry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		window    time.Duration
		fault     mnssim.SendFault
		batch     int // 0: Send; n: SendBatch of n messages (16 per request)
		wantErr   error
		wantWaits string
		wantOnQ   int
	}{
		{"outage ridden out", 8 * time.Second, mnssim.SendFault{Count: 2}, 0, nil, "[250ms 500ms]", 1},
		{"throttling ridden out", 8 * time.Second, mnssim.SendFault{Count: 1, Code: "QpsLimitExceeded", Status: 403}, 0, nil, "[250ms]", 1},
		{"batch ridden out", 8 * time.Second, mnssim.SendFault{Count: 2}, 5, nil, "[250ms 500ms]", 5},
		{"second request of a batch ridden out", 8 * time.Second, mnssim.SendFault{Count: 1}, 20, nil, "[250ms]", 20},
		{"window spent", time.Second, mnssim.SendFault{Count: 100}, 0, mns.ErrUnavailable, "[250ms 500ms]", 0},
		{"batch window spent", time.Second, mnssim.SendFault{Count: 100}, 3, mns.ErrUnavailable, "[250ms 500ms]", 0},
		{"refused request not retried", 8 * time.Second, mnssim.SendFault{Count: 1, Code: "InvalidArgument", Status: 400}, 0, mns.ErrInvalid, "[]", 0},
		{"negative window: one attempt", -1, mnssim.SendFault{Count: 1}, 0, mns.ErrUnavailable, "[]", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, "")
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			var mu sync.Mutex
			var waits []time.Duration
			c, err := mns.New(mns.Config{Endpoint: b.url, Credentials: mns.Credentials{AccessKeyID: testAK, AccessKeySecret: testSK},
				SendRetry: tc.window, Clock: clock.Clock{
					Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now },
					Sleep: func(_ context.Context, d time.Duration) error {
						mu.Lock()
						defer mu.Unlock()
						waits, now = append(waits, d), now.Add(d)
						return nil
					}}})
			if err != nil {
				t.Fatal(err)
			}
			q := mustQueue(t, c, "q", mns.QueueAttributes{})
			tc.fault.Queue = "q"
			if err := b.srv.InjectSendFault(tc.fault); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if tc.batch == 0 {
				_, err = q.Send(ctx, "m", 0)
			} else {
				outs := make([]mns.Outgoing, tc.batch)
				for i := range outs {
					outs[i].Body = "m" + strconv.Itoa(i)
				}
				var res []mns.SendResult
				res, err = q.SendBatch(ctx, outs)
				if err == nil && len(res) != tc.batch {
					t.Errorf("results = %d, want %d", len(res), tc.batch)
				}
			}
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
			if got := fmt.Sprint(waits); got != tc.wantWaits {
				t.Errorf("waits = %s, want %s", got, tc.wantWaits)
			}
			got := 0
			for {
				msgs, err := q.Receive(ctx, 16, 0)
				if err != nil {
					t.Fatal(err)
				}
				if len(msgs) == 0 {
					break
				}
				got += len(msgs)
			}
			if got != tc.wantOnQ {
				t.Errorf("messages on the queue = %d, want %d (none lost, none twice)", got, tc.wantOnQ)
			}
		})
	}
}
