package mns_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/ensnodepool/webhook/pkg/clock"
	"github.com/ensnodepool/webhook/pkg/dev/mnssim"
	"github.com/ensnodepool/webhook/pkg/mns"
)

// A queue rides out a brief outage of the queue service by itself: the
// first two sends fail with InternalError (the service restarting), and
// Send retries them within Config.SendRetry, 250 ms then 500 ms apart.
// The clock's Sleep is faked here, so the example does not wait.
func ExampleQueue_Send_outage() {
	srv, err := mnssim.New(mnssim.Config{AccessKeyID: "example-ak", AccessKeySecret: "example-sk"})
	if err != nil {
		panic(err)
	}
	hs := httptest.NewServer(srv)
	defer func() { srv.CancelPolls(); hs.Close(); _ = srv.Close() }()

	var waits []time.Duration
	c, err := mns.New(mns.Config{Endpoint: hs.URL,
		Credentials: mns.Credentials{AccessKeyID: "example-ak", AccessKeySecret: "example-sk"},
		SendRetry:   8 * time.Second,
		Clock: clock.Clock{Sleep: func(_ context.Context, d time.Duration) error {
			waits = append(waits, d)
			return nil
		}}})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := c.EnsureQueue(ctx, "requests", mns.QueueAttributes{}); err != nil {
		panic(err)
	}
	if err := srv.InjectSendFault(mnssim.SendFault{Queue: "requests", Count: 2}); err != nil {
		panic(err)
	}

	q := c.Queue("requests")
	_, err = q.Send(ctx, "hello", 0)
	fmt.Println("send error:", err)
	fmt.Println("waited:", waits)
	msgs, err := q.Receive(ctx, 16, 0)
	if err != nil {
		panic(err)
	}
	fmt.Println("on the queue:", len(msgs), msgs[0].Body)
	// Output:
	// send error: <nil>
	// waited: [250ms 500ms]
	// on the queue: 1 hello
}
