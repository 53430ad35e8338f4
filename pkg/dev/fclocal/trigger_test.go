package fclocal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestHTTPTriggerRoundTrip(t *testing.T) {
	t.Parallel()
	tb := setup(t, nil)
	srv := httptest.NewServer(tb.rt.HTTPTrigger("echo"))
	defer srv.Close()
	client := srv.Client()

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/pools/a%2Fb?x=1&x=2&y=%E4%B8%AD", strings.NewReader(`{"hello":"world"}`))
	req.Header.Add("X-Multi", "a")
	req.Header.Add("X-Multi", "b")
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var got struct {
		Method, Path, RawPath, Body, RemoteAddr, FcRequestID string
		Query                                                map[string][]string
		Header                                               http.Header
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	checks := []struct{ what, got, want string }{
		{"method", got.Method, "POST"},
		{"path", got.Path, "/v1/pools/a/b"},
		{"raw path", got.RawPath, "/v1/pools/a%2Fb"},
		{"body", got.Body, `{"hello":"world"}`},
		{"query joined", strings.Join(got.Query["x"], "|"), "1,2"},
		{"query utf8", got.Query["y"][0], "中"},
		{"header joined", got.Header.Get("X-Multi"), "a,b"},
		{"remote ip", strings.Split(got.RemoteAddr, ":")[0], "127.0.0.1"},
		{"request id seen by handler", got.FcRequestID, resp.Header.Get("X-Fc-Request-Id")},
		{"response header joined", resp.Header.Get("X-Echo"), "1, 2"},
		{"content type", resp.Header.Get("Content-Type"), "application/json"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.what, c.got, c.want)
		}
	}
	if got.FcRequestID == "" {
		t.Error("no request id")
	}

	// Binary body both ways (base64 in the event and in the response).
	bin := []byte{0x00, 0xff, 0xfe, 'a', 0x80}
	resp, err = client.Post(srv.URL+"/bin", "application/octet-stream", bytes.NewReader(bin))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || !bytes.Equal(body, bin) {
		t.Errorf("binary: got %d %x, want 202 %x", resp.StatusCode, body, bin)
	}
}

func TestHTTPTriggerEventShape(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest(http.MethodGet, "http://abc.cn-hangzhou.fcapp.run/p%20q?a=1", nil)
	r.Header.Set("User-Agent", "ua")
	r.RemoteAddr = "10.0.0.1:5555"
	now := time.Date(2023, 9, 5, 6, 41, 11, 895e6, time.UTC)
	ev := NewHTTPEvent(r, []byte("hi"), "rid", "acct", now)
	want := HTTPEvent{
		Version: "v1", RawPath: "/p%20q", Body: "hi",
		Headers:         map[string]string{"User-Agent": "ua", "Host": "abc.cn-hangzhou.fcapp.run"},
		QueryParameters: map[string]string{"a": "1"},
		RequestContext: HTTPEventContext{AccountID: "acct", DomainName: "abc.cn-hangzhou.fcapp.run", DomainPrefix: "abc",
			RequestID: "rid", Time: "2023-09-05T06:41:11Z", TimeEpoch: "1693896071895",
			HTTP: HTTPEventDetail{Method: "GET", Path: "/p q", Protocol: "HTTP/1.1", SourceIP: "10.0.0.1", UserAgent: "ua"}},
	}
	gotJSON, _ := json.Marshal(ev)
	wantJSON, _ := json.Marshal(want)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Errorf("got  %s\nwant %s", gotJSON, wantJSON)
	}
}

// fakeInvoker fails or succeeds per call.
type fakeInvoker struct {
	fn func(Request) (Result, error)
}

func (f fakeInvoker) Do(_ context.Context, r Request) (Result, error) { return f.fn(r) }

func TestHTTPTriggerFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		err        error
		payload    string
		wantStatus int
		wantBody   string
	}{
		{"function error", &FunctionError{Type: "errorString", Message: "boom"}, "", 502, `"errorMessage":"boom"`},
		{"timeout", fmt.Errorf("%w: x", ErrTimeout), "", 504, "FunctionTimeout"},
		{"closed", ErrClosed, "", 503, "UnhandledInvocationError"},
		{"raw result", nil, `"just a string"`, 200, `"just a string"`},
		{"bad base64", nil, `{"statusCode":200,"isBase64Encoded":true,"body":"%%"}`, 502, "InvalidResponse"},
	}
	for _, tt := range tests {
		h, err := NewHTTPTrigger(HTTPTriggerConfig{Function: "f", Invoker: fakeInvoker{func(Request) (Result, error) {
			return Result{Payload: []byte(tt.payload)}, tt.err
		}}})
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if rec.Code != tt.wantStatus || !strings.Contains(rec.Body.String(), tt.wantBody) {
			t.Errorf("%s: got %d %s", tt.name, rec.Code, rec.Body)
		}
	}
}

func TestTimerTriggerFires(t *testing.T) {
	t.Parallel()
	tb := setup(t, nil)
	var mu sync.Mutex
	var names []string
	tr, err := NewTimerTrigger(TimerTriggerConfig{Function: "echo", Invoker: tb.rt, Interval: 500 * time.Millisecond,
		Name: "poll", Payload: "p", OnResult: func(r Result, err error) {
			if err != nil {
				t.Error(err)
				return
			}
			var got struct{ Name, Payload string }
			_ = json.Unmarshal(r.Payload, &got)
			mu.Lock()
			names = append(names, got.Name+"/"+got.Payload)
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1600*time.Millisecond)
	defer cancel()
	if err := tr.Run(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(names) < 2 || len(names) > 3 || names[0] != "poll/p" {
		t.Errorf("fired %d times: %v, want 2–3 of poll/p in 1.6s at 500ms", len(names), names)
	}
}

// fakeSource is a tiny in-memory queue with visibility timeouts and
// dequeue counts (the real one is pkg/mns over pkg/dev/mnssim).
type fakeSource struct {
	mu       sync.Mutex
	msgs     map[string]*fakeMsg // by ID
	seq      int
	deleted  []string
	dead     []string
	changes  int
	receives int
}

type fakeMsg struct {
	Msg
	visibleAt time.Time
}

func newFakeSource(bodies ...string) *fakeSource {
	s := &fakeSource{msgs: map[string]*fakeMsg{}}
	for i, b := range bodies {
		id := fmt.Sprintf("m%d", i)
		s.msgs[id] = &fakeMsg{Msg: Msg{ID: id, Body: b, EnqueueTime: time.Now()}}
	}
	return s
}

func (s *fakeSource) Receive(ctx context.Context, max int, wait time.Duration) ([]Msg, error) {
	deadline := time.Now().Add(wait)
	for {
		s.mu.Lock()
		s.receives++
		var out []Msg
		for _, m := range s.msgs {
			if len(out) == max || time.Now().Before(m.visibleAt) {
				continue
			}
			s.seq++
			m.ReceiptHandle = fmt.Sprintf("%s-r%d", m.ID, s.seq)
			m.DequeueCount++
			m.visibleAt = time.Now().Add(30 * time.Second)
			out = append(out, m.Msg)
		}
		s.mu.Unlock()
		if len(out) > 0 || time.Now().After(deadline) {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (s *fakeSource) find(receipt string) (*fakeMsg, error) {
	for _, m := range s.msgs {
		if m.ReceiptHandle == receipt {
			return m, nil
		}
	}
	return nil, errors.New("stale receipt")
}

func (s *fakeSource) Delete(_ context.Context, receipt string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.find(receipt)
	if err != nil {
		return err
	}
	delete(s.msgs, m.ID)
	s.deleted = append(s.deleted, m.ID)
	return nil
}

func (s *fakeSource) ChangeVisibility(_ context.Context, receipt string, d time.Duration) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.find(receipt)
	if err != nil {
		return "", err
	}
	s.changes++
	s.seq++
	m.ReceiptHandle = fmt.Sprintf("%s-r%d", m.ID, s.seq)
	m.visibleAt = time.Now().Add(d)
	return m.ReceiptHandle, nil
}

func (s *fakeSource) remaining() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

func TestQueueTriggerBatchesAndDeletes(t *testing.T) {
	t.Parallel()
	tb := setup(t, nil)
	src := newFakeSource(`{"n":0}`, `{"n":1}`, `{"n":2}`, `{"n":3}`, `{"n":4}`)
	var mu sync.Mutex
	var sizes []int
	var events []CloudEvent
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	qt, err := NewQueueTrigger(QueueTriggerConfig{Function: "echo", Invoker: tb.rt, Source: src, QueueName: "requests",
		BatchSize: 3, BatchWindow: 200 * time.Millisecond, PollWait: 100 * time.Millisecond,
		OnBatch: func(msgs []Msg, err error) {
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			sizes = append(sizes, len(msgs))
			mu.Unlock()
			if src.remaining() == 0 {
				cancel()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	// Capture the CloudEvents array the function gets.
	qt.cfg.Invoker = fakeInvoker{func(r Request) (Result, error) {
		var evs []CloudEvent
		if err := json.Unmarshal(r.Payload, &evs); err != nil {
			t.Errorf("payload is not a CloudEvents array: %v", err)
		}
		mu.Lock()
		events = append(events, evs...)
		mu.Unlock()
		return tb.rt.Do(ctx, r)
	}}
	if err := qt.Run(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if src.remaining() != 0 || len(src.deleted) != 5 {
		t.Fatalf("remaining %d, deleted %v", src.remaining(), src.deleted)
	}
	total := 0
	for _, n := range sizes {
		if n > 3 {
			t.Errorf("batch of %d exceeds CountBasedWindow 3", n)
		}
		total += n
	}
	if total != 5 || len(sizes) < 2 {
		t.Errorf("batches %v, want 5 messages in ≥ 2 batches", sizes)
	}
	ev := events[0]
	if ev.SpecVersion != "1.0" || ev.Type != "mns:Queue:SendMessage" || ev.Source != "MNS-echo-mnsTrigger" ||
		ev.Subject != "acs:mns:cn-hangzhou:1234567890123456:queues/requests" || ev.Data.MessageID == "" ||
		!strings.HasPrefix(ev.Data.MessageBody, `{"n":`) || ev.Data.RequestID == "" {
		t.Errorf("CloudEvent: %+v", ev)
	}
}

func TestQueueTriggerRetriesThenDeadLetters(t *testing.T) {
	t.Parallel()
	tb := setup(t, nil)
	src := newFakeSource(`{"please":"fail"}`)
	var invocations atomic.Int32
	var backoffs []int
	var reason error
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	qt, err := NewQueueTrigger(QueueTriggerConfig{Function: "echo", Source: src, MaxAttempts: 3, PollWait: 50 * time.Millisecond,
		Invoker: fakeInvoker{func(r Request) (Result, error) { invocations.Add(1); return tb.rt.Do(ctx, r) }},
		Backoff: func(attempt int) time.Duration { backoffs = append(backoffs, attempt); return 20 * time.Millisecond },
		DeadLetter: func(_ context.Context, m Msg, why error) error {
			src.mu.Lock()
			src.dead = append(src.dead, m.ID)
			src.mu.Unlock()
			reason = why
			cancel()
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := qt.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := invocations.Load(); got != 3 {
		t.Errorf("invocations: got %d, want 3", got)
	}
	if fmt.Sprint(backoffs) != "[1 2]" {
		t.Errorf("backoffs for attempts %v, want [1 2]", backoffs)
	}
	if fmt.Sprint(src.dead) != "[m0]" || src.remaining() != 0 {
		t.Errorf("dead %v, remaining %d", src.dead, src.remaining())
	}
	if !errors.Is(reason, ErrFunction) || !strings.Contains(reason.Error(), "failing message m0") {
		t.Errorf("reason: %v", reason)
	}
}

// TestQueueTriggerHeartbeat: while a slow invocation runs, the trigger
// keeps its batch invisible past the Visibility it set (heartbeats) and
// deletes with the rotated receipt handle; a crash would leave the
// message visible again within Visibility.
func TestQueueTriggerHeartbeat(t *testing.T) {
	t.Parallel()
	src := newFakeSource(`{"n":0}`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var results []error
	qt, err := NewQueueTrigger(QueueTriggerConfig{Function: "slow", Source: src, PollWait: 50 * time.Millisecond,
		Visibility: 300 * time.Millisecond,
		Invoker: fakeInvoker{func(Request) (Result, error) {
			time.Sleep(time.Second) // > 3 × Visibility
			return Result{}, nil
		}},
		OnBatch: func(_ []Msg, err error) { results = append(results, err); cancel() }})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		// A second consumer polls while the invocation runs.
		time.Sleep(600 * time.Millisecond)
		if ms, _ := src.Receive(context.Background(), 10, 0); len(ms) != 0 {
			t.Errorf("message redelivered under a running invocation")
		}
	}()
	_ = qt.Run(ctx)
	if len(results) != 1 || results[0] != nil {
		t.Fatalf("batches: %v", results)
	}
	src.mu.Lock()
	changes := src.changes
	src.mu.Unlock()
	if src.remaining() != 0 || changes < 3 {
		t.Errorf("%d messages left, %d visibility changes; want deleted after ≥ 3 changes", src.remaining(), changes)
	}
}
