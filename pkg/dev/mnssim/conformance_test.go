package mnssim_test

import (
	"crypto/md5"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"
	"github.com/ensnodepool/webhook/pkg/dev/mnssim"
)

// TestSignVectors checks Sign against vectors computed from the documented algorithm and checked
// against requests of the official SDK.
func TestSignVectors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method, md5, resource, want string
	}{
		{"POST", "Y2EwNmRiNWM4ZTg2MjY1MTg0NzAyMjU2YjFhZmY0OTI=", "/queues/q1/messages", "XY3zljYUw+yZOnjXodh8mOZ7CHI="},
		{"GET", "ZDQxZDhjZDk4ZjAwYjIwNGU5ODAwOTk4ZWNmODQyN2U=", "/queues/q1/messages?numOfMessages=16&waitseconds=30", "ARpBWeMjPuI3KPXfFJ/qBbdwjYQ="},
	}
	for _, tt := range tests {
		h := http.Header{}
		h.Set("Content-MD5", tt.md5)
		h.Set("Content-Type", "application/xml")
		h.Set("Date", "Thu, 01 Jan 2026 00:00:00 GMT")
		h.Set("X-Mns-Version", "2015-06-06")
		if got := mnssim.Sign("testsecret", tt.method, h, tt.resource); got != tt.want {
			t.Errorf("%s %s: got %s, want %s", tt.method, tt.resource, got, tt.want)
		}
	}
}

func TestQueueLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	if err := b.mgr.CreateQueue("q1", 0, 65536, 345600, 30, 0, 2); err != nil {
		t.Fatal(err)
	}
	wantCode(t, b.mgr.CreateQueue("q1", 0, 65536, 345600, 30, 0, 2), 133) // same attributes: 204
	wantCode(t, b.mgr.CreateQueue("q1", 0, 65536, 345600, 60, 0, 2), 116) // different: 409
	wantCode(t, b.mgr.CreateSimpleQueue("bad_name"), 118)

	if err := b.mgr.SetQueueAttributesWithOptions("q1", ali_mns.WithVisibilityTimeout(60), ali_mns.WithPollingWaitSeconds(3)); err != nil {
		t.Fatal(err)
	}
	a, err := b.mgr.GetQueueAttributes("q1")
	if err != nil {
		t.Fatal(err)
	}
	if a.QueueName != "q1" || a.VisibilityTimeout != 60 || a.PollingWaitSeconds != 3 || a.MaxMessageSize != 65536 || a.MessageRetentionPeriod != 345600 || a.CreateTime == 0 {
		t.Fatalf("attributes: %+v", a)
	}
	wantCode(t, b.mgr.SetQueueAttributesWithOptions("nope", ali_mns.WithVisibilityTimeout(5)), 122)

	for _, n := range []string{"q2", "q3", "x1"} {
		if err := b.mgr.CreateSimpleQueue(n); err != nil {
			t.Fatal(err)
		}
	}
	qs, err := b.mgr.ListQueue("", 2, "q")
	if err != nil {
		t.Fatal(err)
	}
	if len(qs.Queues) != 2 || !strings.HasSuffix(qs.Queues[0].QueueURL, "/queues/q1") || qs.NextMarker != "q3" {
		t.Fatalf("list page 1: %+v", qs)
	}
	qs, err = b.mgr.ListQueue(qs.NextMarker, 2, "q")
	if err != nil || len(qs.Queues) != 1 || qs.NextMarker != "" {
		t.Fatalf("list page 2: %+v %v", qs, err)
	}
	det, err := b.mgr.ListQueueDetail("", 0, "x")
	if err != nil || len(det.Attrs) != 1 || det.Attrs[0].QueueName != "x1" || det.Attrs[0].VisibilityTimeout != 30 {
		t.Fatalf("list detail: %+v %v", det, err)
	}

	if err := b.mgr.DeleteQueue("q1"); err != nil {
		t.Fatal(err)
	}
	_, err = b.mgr.GetQueueAttributes("q1")
	wantCode(t, err, 122)
	if err := b.mgr.DeleteQueue("q1"); err != nil { // missing queue: 204 as MNS
		t.Fatal(err)
	}
}

func TestSendReceivePeekDelete(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	q := b.queue(t, "q")
	body := `hello <"world"> & é`
	sent, err := q.SendMessage(ali_mns.MessageSendRequest{MessageBody: body})
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum([]byte(body))
	if want := strings.ToUpper(hex.EncodeToString(sum[:])); sent.MessageBodyMD5 != want || sent.MessageId == "" {
		t.Fatalf("send: %+v, want md5 %s", sent, want)
	}
	p, err := peek(q)
	if err != nil || p.MessageBody != body || p.ReceiptHandle != "" || p.DequeueCount != 0 || p.FirstDequeueTime != p.EnqueueTime {
		t.Fatalf("peek: %+v %v", p, err)
	}
	now := b.clock.Now().UnixMilli()
	m, err := receive(q)
	if err != nil {
		t.Fatal(err)
	}
	if m.MessageId != sent.MessageId || m.MessageBody != body || m.DequeueCount != 1 || m.Priority != 8 ||
		m.EnqueueTime != now || m.FirstDequeueTime != now || m.NextVisibleTime != now+30_000 || m.MessageBodyMD5 != sent.MessageBodyMD5 {
		t.Fatalf("receive: %+v (now %d)", m, now)
	}
	_, err = receive(q) // invisible now
	wantCode(t, err, 115)
	_, err = peek(q)
	wantCode(t, err, 115)
	if err := q.DeleteMessage(m.ReceiptHandle); err != nil {
		t.Fatal(err)
	}
	wantCode(t, q.DeleteMessage(m.ReceiptHandle), 115)
	b.clock.Advance(time.Minute)
	_, err = receive(q)
	wantCode(t, err, 115)
}

func TestRedeliveryAndStaleReceipts(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	q := b.queue(t, "q", ali_mns.WithVisibilityTimeout(10))
	if _, err := q.SendMessage(ali_mns.MessageSendRequest{MessageBody: "m"}); err != nil {
		t.Fatal(err)
	}
	m1, err := receive(q)
	if err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(11 * time.Second) // visibility timeout passes: redelivered
	wantCode(t, q.DeleteMessage(m1.ReceiptHandle), 115)
	m2, err := receive(q)
	if err != nil || m2.DequeueCount != 2 || m2.FirstDequeueTime != m1.FirstDequeueTime || m2.ReceiptHandle == m1.ReceiptHandle {
		t.Fatalf("redelivery: %+v %v (first %+v)", m2, err, m1)
	}
	wantCode(t, q.DeleteMessage(m1.ReceiptHandle), 115) // stale after redelivery

	cv, err := q.ChangeMessageVisibility(m2.ReceiptHandle, 100)
	if err != nil || cv.ReceiptHandle == m2.ReceiptHandle || cv.NextVisibleTime != b.clock.Now().UnixMilli()+100_000 {
		t.Fatalf("change visibility: %+v %v", cv, err)
	}
	wantCode(t, q.DeleteMessage(m2.ReceiptHandle), 115) // stale after visibility change
	_, err = q.ChangeMessageVisibility(m2.ReceiptHandle, 5)
	wantCode(t, err, 115)
	wantCode(t, q.DeleteMessage("garbage"), 123)
	_, err = q.ChangeMessageVisibility(cv.ReceiptHandle, 0)
	wantCode(t, err, 105)
	b.clock.Advance(50 * time.Second)
	_, err = receive(q)
	wantCode(t, err, 115) // still invisible: 100 s from the change
	if err := q.DeleteMessage(cv.ReceiptHandle); err != nil {
		t.Fatal(err)
	}
}

func TestDelayPriorityRetention(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	q := b.queue(t, "q", ali_mns.WithMessageRetentionPeriod(60))
	if _, err := q.SendMessage(ali_mns.MessageSendRequest{MessageBody: "late", DelaySeconds: 5}); err != nil {
		t.Fatal(err)
	}
	_, err := receive(q)
	wantCode(t, err, 115)
	a, _ := b.mgr.GetQueueAttributes("q")
	if a.DelayMessages != 1 || a.ActiveMessages != 0 {
		t.Fatalf("counts: %+v", a)
	}
	b.clock.Advance(5 * time.Second)
	if _, err := q.BatchSendMessage(
		ali_mns.MessageSendRequest{MessageBody: "low", Priority: 16},
		ali_mns.MessageSendRequest{MessageBody: "high", Priority: 1},
	); err != nil {
		t.Fatal(err)
	}
	got, err := batchReceive(q, 16)
	if err != nil || len(got.Messages) != 3 {
		t.Fatalf("batch receive: %+v %v", got, err)
	}
	// all three became visible at the same instant: priority decides
	if got.Messages[0].MessageBody != "high" || got.Messages[1].MessageBody != "late" || got.Messages[2].MessageBody != "low" {
		t.Fatalf("order: %s %s %s", got.Messages[0].MessageBody, got.Messages[1].MessageBody, got.Messages[2].MessageBody)
	}
	a, _ = b.mgr.GetQueueAttributes("q")
	if a.InactiveMessages != 3 {
		t.Fatalf("inactive: %+v", a)
	}
	b.clock.Advance(61 * time.Second) // retention passes
	_, err = batchReceive(q, 16)
	wantCode(t, err, 115)
	a, _ = b.mgr.GetQueueAttributes("q")
	if a.ActiveMessages+a.InactiveMessages+a.DelayMessages != 0 {
		t.Fatalf("after retention: %+v", a)
	}
}

func TestErrorPaths(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	q := b.queue(t, "q")

	_, err := q.SendMessage(ali_mns.MessageSendRequest{MessageBody: strings.Repeat("x", 65537)})
	wantCode(t, err, 105) // oversize
	if _, err := q.SendMessage(ali_mns.MessageSendRequest{MessageBody: strings.Repeat("x", 65536)}); err != nil {
		t.Fatalf("64 KiB body: %v", err)
	}
	_, err = q.SendMessage(ali_mns.MessageSendRequest{MessageBody: "x", Priority: 17})
	wantCode(t, err, 105)

	missing := ali_mns.NewMNSQueue("missing", b.cli)
	_, err = missing.SendMessage(ali_mns.MessageSendRequest{MessageBody: "x"})
	wantCode(t, err, 122)
	_, err = receive(missing)
	wantCode(t, err, 122)

	bad := ali_mns.NewMNSQueue("q", sdkClient(t, b.http.URL, testAK, "wrong", ""))
	_, err = bad.SendMessage(ali_mns.MessageSendRequest{MessageBody: "x"})
	wantCode(t, err, 124)
	unknown := ali_mns.NewMNSQueue("q", sdkClient(t, b.http.URL, "other", testSK, ""))
	_, err = unknown.SendMessage(ali_mns.MessageSendRequest{MessageBody: "x"})
	wantCode(t, err, 101)
	sts := ali_mns.NewMNSQueue("q", sdkClient(t, b.http.URL, testAK, testSK, "sts-token"))
	if _, err := sts.SendMessage(ali_mns.MessageSendRequest{MessageBody: "x"}); err != nil {
		t.Fatalf("STS token: %v", err)
	}

	tests := []struct {
		name   string
		mutate func(*http.Request)
		status int
		code   string
	}{
		{"stale date", func(r *http.Request) {
			r.Header.Set("Date", time.Now().Add(-16*time.Minute).UTC().Format(http.TimeFormat))
		}, 408, "TimeExpired"},
		{"bad date", func(r *http.Request) { r.Header.Set("Date", "yesterday") }, 400, "InvalidDateHeader"},
		{"no auth", func(r *http.Request) { r.Header.Del("Authorization") }, 400, "MissingAuthorizationHeader"},
		{"bad auth", func(r *http.Request) {
			if r.Header.Get("Authorization") != "" {
				r.Header.Set("Authorization", "Basic x")
			}
		}, 400, "InvalidAuthorizationHeader"},
		{"no version", func(r *http.Request) { r.Header.Del("x-mns-version") }, 400, "MissingVersionHeader"},
		{"bad md5", func(r *http.Request) { r.Header.Set("Content-MD5", "AAAA") }, 400, "InvalidDegist"},
	}
	for _, tt := range tests {
		status, body := raw(t, b.http.URL, "GET", "/queues/q", nil, tt.mutate)
		if status != tt.status || !strings.Contains(body, "<Code>"+tt.code+"</Code>") || !strings.Contains(body, "<RequestId>") || !strings.Contains(body, "<HostId>") {
			t.Errorf("%s: got %d %s, want %d %s", tt.name, status, body, tt.status, tt.code)
		}
	}
	status, body := raw(t, b.http.URL, "POST", "/queues/q/messages", []byte("<Message><MessageBody>x</Mess"), nil)
	if status != 400 || !strings.Contains(body, "MalformedXML") {
		t.Errorf("malformed: %d %s", status, body)
	}
	status, body = raw(t, b.http.URL, "GET", "/queues/q/messages?numOfMessages=17", nil, nil)
	if status != 400 || !strings.Contains(body, "InvalidArgument") {
		t.Errorf("numOfMessages 17: %d %s", status, body)
	}
}

// TestOtherSDKWire drives the service the way the Java/Python SDKs do: XML declaration and
// namespace on requests, raw (unescaped) receipt handles, lower-case query keys, a path prefix.
func TestOtherSDKWire(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	b.queue(t, "q")
	base := b.http.URL
	body := `<?xml version="1.0" encoding="UTF-8"?><Message xmlns="http://mns.aliyuncs.com/doc/v1/"><MessageBody>aGVsbG8=</MessageBody><Priority>3</Priority></Message>`
	status, resp := raw(t, base, "POST", "/123.mns.cn-hangzhou.aliyuncs.com/queues/q/messages", []byte(body), nil)
	if status != 201 || !strings.HasPrefix(resp, `<?xml version="1.0" encoding="UTF-8"?><Message xmlns="http://mns.aliyuncs.com/doc/v1/"><MessageId>`) {
		t.Fatalf("send: %d %s", status, resp)
	}
	status, resp = raw(t, base, "GET", "/queues/q/messages?waitseconds=1", nil, nil)
	if status != 200 || !strings.Contains(resp, "<MessageBody>aGVsbG8=</MessageBody>") || !strings.Contains(resp, "<Priority>3</Priority>") {
		t.Fatalf("receive: %d %s", status, resp)
	}
	rh := resp[strings.Index(resp, "<ReceiptHandle>")+15 : strings.Index(resp, "</ReceiptHandle>")]
	status, resp = raw(t, base, "PUT", "/queues/q/messages?receiptHandle="+rh+"&visibilityTimeout=5", nil, nil)
	if status != 200 || !strings.Contains(resp, "<ChangeVisibility") {
		t.Fatalf("change visibility: %d %s", status, resp)
	}
	rh = resp[strings.Index(resp, "<ReceiptHandle>")+15 : strings.Index(resp, "</ReceiptHandle>")]
	del := `<?xml version="1.0" encoding="UTF-8"?><ReceiptHandles xmlns="http://mns.aliyuncs.com/doc/v1/"><ReceiptHandle>` + rh + `</ReceiptHandle></ReceiptHandles>`
	if status, resp = raw(t, base, "DELETE", "/queues/q/messages", []byte(del), nil); status != 204 {
		t.Fatalf("batch delete: %d %s", status, resp)
	}
}

func TestBatchPartialFailures(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	q := b.queue(t, "q")
	resp, err := q.BatchSendMessage(
		ali_mns.MessageSendRequest{MessageBody: "ok-1"},
		ali_mns.MessageSendRequest{MessageBody: strings.Repeat("x", 65537)},
		ali_mns.MessageSendRequest{MessageBody: "ok-2"},
	)
	wantCode(t, err, 136)
	if len(resp.Messages) != 3 || resp.Messages[0].MessageId == "" || resp.Messages[1].ErrorCode != "InvalidArgument" || resp.Messages[2].MessageId == "" {
		t.Fatalf("partial send: %+v", resp.Messages)
	}
	got, err := batchReceive(q, 16)
	if err != nil || len(got.Messages) != 2 {
		t.Fatalf("receive: %+v %v", got, err)
	}
	del, err := q.BatchDeleteMessage(got.Messages[0].ReceiptHandle, "garbage", got.Messages[1].ReceiptHandle, got.Messages[1].ReceiptHandle)
	wantCode(t, err, 136)
	if len(del.FailedMessages) != 2 || del.FailedMessages[0].ErrorCode != "ReceiptHandleError" || del.FailedMessages[1].ErrorCode != "MessageNotExist" {
		t.Fatalf("partial delete: %+v", del.FailedMessages)
	}
	a, _ := b.mgr.GetQueueAttributes("q")
	if a.ActiveMessages+a.InactiveMessages != 0 {
		t.Fatalf("valid handles of a failed batch must be deleted: %+v", a)
	}
	_, err = q.BatchDeleteMessage("x")
	wantCode(t, err, 136)
	_, err = ali_mns.NewMNSQueue("missing", b.cli).BatchDeleteMessage("x")
	wantCode(t, err, 122)
}

func TestLongPollWakesOnSend(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	q := b.queue(t, "q")
	type res struct {
		m   ali_mns.MessageReceiveResponse
		err error
		at  time.Time
	}
	done := make(chan res, 1)
	poller := ali_mns.NewMNSQueue("q", b.cli) // SDK queue objects are not safe for concurrent use
	go func() {
		m, err := receive(poller, 10)
		done <- res{m, err, time.Now()}
	}()
	time.Sleep(100 * time.Millisecond) // let the poll start waiting
	select {
	case r := <-done:
		t.Fatalf("poll returned early: %+v", r)
	default:
	}
	if _, err := q.SendMessage(ali_mns.MessageSendRequest{MessageBody: "wake"}); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	select {
	case r := <-done:
		if r.err != nil || r.m.MessageBody != "wake" {
			t.Fatalf("poll: %+v", r)
		}
		if d := r.at.Sub(sent); d > 200*time.Millisecond {
			t.Fatalf("wake latency %v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("long poll did not wake")
	}

	start := time.Now() // empty poll answers after waitseconds with MessageNotExist
	_, err := receive(q, 1)
	wantCode(t, err, 115)
	if d := time.Since(start); d < 900*time.Millisecond || d > 3*time.Second {
		t.Fatalf("empty poll took %v", d)
	}
}

func TestDeadLetterPolicy(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	b.queue(t, "dlq")
	body := `<Queue><VisibilityTimeout>5</VisibilityTimeout><DlqPolicy><Enabled>true</Enabled><DeadLetterTargetQueue>dlq</DeadLetterTargetQueue><MaxReceiveCount>2</MaxReceiveCount></DlqPolicy></Queue>`
	if status, resp := raw(t, b.http.URL, "PUT", "/queues/src", []byte(body), nil); status != 201 {
		t.Fatalf("create with DlqPolicy: %d %s", status, resp)
	}
	if status, resp := raw(t, b.http.URL, "GET", "/queues/src", nil, nil); status != 200 || !strings.Contains(resp, "<MaxReceiveCount>2</MaxReceiveCount>") {
		t.Fatalf("attributes: %d %s", status, resp)
	}
	src := ali_mns.NewMNSQueue("src", b.cli)
	if _, err := src.SendMessage(ali_mns.MessageSendRequest{MessageBody: "poison"}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		m, err := receive(src)
		if err != nil || m.DequeueCount != int64(i) {
			t.Fatalf("receive %d: %+v %v", i, m, err)
		}
		b.clock.Advance(6 * time.Second)
	}
	_, err := receive(src)
	wantCode(t, err, 115) // third receive moves it instead
	m, err := receive(ali_mns.NewMNSQueue("dlq", b.cli))
	if err != nil || m.MessageBody != "poison" || m.DequeueCount != 1 {
		t.Fatalf("dead letter: %+v %v", m, err)
	}
}

func TestDurableRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := newClock()
	type node struct {
		srv *mnssim.Server
		hs  *httptest.Server
		mgr ali_mns.AliQueueManager
		q   ali_mns.AliMNSQueue
	}
	open := func() node {
		srv, err := mnssim.New(mnssim.Config{AccessKeyID: testAK, AccessKeySecret: testSK, Dir: dir, Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(srv)
		cli := sdkClient(t, hs.URL, testAK, testSK, "")
		return node{srv, hs, ali_mns.NewMNSQueueManager(cli), ali_mns.NewMNSQueue("q", cli)}
	}
	closeNode := func(n node) {
		hs, srv := n.hs, n.srv
		srv.CancelPolls()
		hs.Close()
		if err := srv.Close(); err != nil {
			t.Fatal(err)
		}
	}
	n := open()
	if err := n.mgr.CreateQueueWithOptions("q", ali_mns.WithVisibilityTimeout(20)); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"a", "b", "c"} {
		if _, err := n.q.SendMessage(ali_mns.MessageSendRequest{MessageBody: body}); err != nil {
			t.Fatal(err)
		}
	}
	inflight, err := receive(n.q)
	if err != nil {
		t.Fatal(err)
	}
	deleted, err := receive(n.q)
	if err != nil || n.q.DeleteMessage(deleted.ReceiptHandle) != nil {
		t.Fatal(err)
	}
	closeNode(n)

	n = open()
	defer closeNode(n)
	got, err := batchReceive(n.q, 16)
	if err != nil || len(got.Messages) != 1 || got.Messages[0].MessageBody != "c" {
		t.Fatalf("after restart: %+v %v", got, err)
	}
	c.Advance(21 * time.Second) // the in-flight message comes back after its visibility timeout
	m, err := receive(n.q)
	if err != nil || m.MessageId != inflight.MessageId || m.DequeueCount != 2 {
		t.Fatalf("in-flight after restart: %+v %v", m, err)
	}
	a, err := n.mgr.GetQueueAttributes("q")
	if err != nil || a.VisibilityTimeout != 20 {
		t.Fatalf("attributes after restart: %+v %v", a, err)
	}
	if _, err := n.q.SendMessage(ali_mns.MessageSendRequest{MessageBody: "d"}); err != nil {
		t.Fatal(err)
	}
}
