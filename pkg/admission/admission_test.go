package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/caller"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// queue is an in-memory requests queue: it keeps what it acknowledged
// and, when down, acknowledges nothing.
type queue struct {
	mu     sync.Mutex
	bodies []string
	down   bool
}

func (q *queue) Send(ctx context.Context, body string) (string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.down {
		return "", errors.New("mns: connection refused")
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	q.bodies = append(q.bodies, body)
	return "msg-" + strconv.Itoa(len(q.bodies)), nil
}

func (q *queue) setDown(down bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.down = down
}

func (q *queue) sent() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]string(nil), q.bodies...)
}

// request is a valid request with a password (sealed on the queue).
func request() *nodepool.Request {
	return &nodepool.Request{
		ClusterId:    "eck-demo0001",
		NodepoolInfo: nodepool.NodepoolInfo{Name: "p1"},
		ScalingGroup: nodepool.ScalingGroup{DesiredSize: 2, ImageId: "m-1", InstanceTypes: []string{"ens.sn1.small"},
			VswitchIds: []string{"vsw-1"}, Password: "Ab1!&=+ x"},
	}
}

// callerSecret is portal-a's secret in these tests (used nowhere else).
const callerSecret = "whsec_YWRtaXNzaW9uLXRlc3QtY2FsbGVyLXNlY3JldC0wMDA="

func testCaller(t *testing.T) *caller.Caller {
	t.Helper()
	set, err := caller.Parse([]byte(`[{"Id":"portal-a","Secrets":["` + callerSecret + `"],"Clusters":["eck-demo*"],"MaxDesiredSize":3}]`))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := set.Lookup("portal-a")
	return c
}

type bundle struct {
	a      *Admission
	q      *queue
	sealer *nodepool.Sealer
	logs   *bytes.Buffer
}

func newBundle(t *testing.T) *bundle {
	t.Helper()
	keys, err := nodepool.ParseKeys("k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=")
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := nodepool.NewSealer(keys)
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle{q: &queue{}, sealer: sealer, logs: &bytes.Buffer{}}
	b.a, err = New(Config{Queue: b.q, Sealer: sealer, Now: func() time.Time { return testNow },
		Logger: slog.New(slog.NewJSONHandler(b.logs, nil)), LogPrefix: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// records returns the log records with message msg.
func (b *bundle) records(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// TestAdmit: each decision of Admit, its error code, what reached the
// queue and its one audit record.
func TestAdmit(t *testing.T) {
	t.Parallel()
	id := nodepool.RequestID("order-7", "")
	tests := []struct {
		name string
		// before runs before the request (a first request under the key,
		// the queue going down).
		before   func(t *testing.T, b *bundle)
		req      func(t *testing.T) Request
		code     Code
		queued   int // envelopes on the queue afterwards
		decision string
		reason   string // the audit record's Reason, a prefix
	}{
		{name: "valid", req: func(t *testing.T) Request {
			return Request{Request: request(), RequestID: id, Caller: testCaller(t)}
		}, queued: 1, decision: caller.DecisionAccepted},
		{name: "valid in simple mode", req: func(*testing.T) Request {
			return Request{Request: request(), RequestID: id}
		}, queued: 1, decision: caller.DecisionAccepted},
		{name: "invalid", req: func(*testing.T) Request {
			r := request()
			r.ScalingGroup.DesiredSize = 400
			return Request{Request: r, RequestID: id}
		}, code: CodeInvalid, decision: caller.DecisionDenied, reason: "invalid: "},
		{name: "unreadable", req: func(*testing.T) Request {
			return Request{Err: &nodepool.ValidationError{Fields: []nodepool.FieldError{{Field: "ClusterId", Message: "must be a string"}}}, RequestID: id}
		}, code: CodeInvalid, decision: caller.DecisionDenied, reason: "invalid: "},
		{name: "forbidden", req: func(t *testing.T) Request {
			r := request()
			r.ScalingGroup.DesiredSize = 4
			return Request{Request: r, RequestID: id, Caller: testCaller(t)}
		}, code: CodeForbidden, decision: caller.DecisionDenied,
			reason: "ScalingGroup.DesiredSize: at most 3 for this caller (rule MaxDesiredSize)"},
		{name: "key reused", before: func(t *testing.T, b *bundle) {
			r := request()
			r.ScalingGroup.DesiredSize = 1
			if _, err := b.a.Admit(context.Background(), Request{Request: r, RequestID: id, Source: nodepool.SourceWebhook}); err != nil {
				t.Fatal(err)
			}
			b.logs.Reset()
		}, req: func(*testing.T) Request {
			return Request{Request: request(), RequestID: id}
		}, code: CodeKeyReused, queued: 1, decision: caller.DecisionDenied, reason: "idempotency key reused: "},
		{name: "same key, same body", before: func(t *testing.T, b *bundle) {
			if _, err := b.a.Admit(context.Background(), Request{Request: request(), RequestID: id, Source: nodepool.SourceWebhook}); err != nil {
				t.Fatal(err)
			}
			b.logs.Reset()
		}, req: func(*testing.T) Request {
			r := request()
			r.ScalingGroup.Password = "Other-pass1" // never hashed, not compared
			return Request{Request: r, RequestID: id}
		}, queued: 2, decision: caller.DecisionAccepted},
		{name: "queue unavailable", before: func(_ *testing.T, b *bundle) { b.q.setDown(true) }, req: func(*testing.T) Request {
			return Request{Request: request(), RequestID: id}
		}, code: CodeUnavailable, decision: caller.DecisionFailed, reason: "queue unavailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBundle(t)
			if tc.before != nil {
				tc.before(t, b)
			}
			r := tc.req(t)
			r.Source, r.Channel = nodepool.SourceWebhook, caller.SourceAPI
			rc, err := b.a.Admit(context.Background(), r)
			if got := CodeOf(err); got != tc.code || (tc.code == "" && err != nil) {
				t.Fatalf("Admit = %+v, %v; want code %q", rc, err, tc.code)
			}
			if n := len(b.q.sent()); n != tc.queued {
				t.Errorf("queue holds %d envelopes, want %d", n, tc.queued)
			}
			audits := b.records(t, "audit")
			if len(audits) != 1 {
				t.Fatalf("audit records %v, want one", audits)
			}
			rec := audits[0]
			wantCaller := caller.SimpleCaller
			if r.Caller != nil {
				wantCaller = r.Caller.Id
			}
			if rec["Decision"] != tc.decision || rec["Caller"] != wantCaller || rec["Source"] != caller.SourceAPI ||
				rec["Action"] != caller.ActionCreate || rec["RequestId"] != id ||
				!strings.HasPrefix(rec["Reason"].(string), tc.reason) || (tc.reason == "" && rec["Reason"] != "") {
				t.Errorf("audit %v, want %s by %s with reason %q…", rec, tc.decision, wantCaller, tc.reason)
			}
			if r.Request != nil && (rec["ClusterId"] != "eck-demo0001" || rec["Name"] != "p1") {
				t.Errorf("audit %v does not name the pool", rec)
			}
			if strings.Contains(b.logs.String(), "Ab1!&=+ x") || strings.Contains(b.logs.String(), "Other-pass1") {
				t.Errorf("a password reached the logs: %s", b.logs)
			}
			accepted := b.records(t, "test: accepted")
			if (tc.code == "") != (len(accepted) == 1) || (tc.code == "" && (rc.RequestID != id || rc.MessageID == "")) {
				t.Errorf("receipt %+v, acceptance records %v", rc, accepted)
			}
		})
	}
}

// TestSubmitEnvelope: what reaches the queue is the checked request in
// its envelope, the password sealed, naming its caller and source.
func TestSubmitEnvelope(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	who := testCaller(t)
	c, err := b.a.Check(context.Background(), Request{Request: request(), RequestID: "req_1", Caller: who,
		Source: nodepool.SourceChatOps, Channel: caller.PlatformSlack, LogAttrs: []slog.Attr{slog.String("user", "U1")}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(b.q.sent()); n != 0 || b.logs.Len() != 0 {
		t.Fatalf("Check queued %d envelopes or wrote %q", n, b.logs)
	}
	if _, err := b.a.Submit(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	sent := b.q.sent()
	if len(sent) != 1 || strings.Contains(sent[0], "Ab1!&=+ x") {
		t.Fatalf("queue %q: want one envelope without the password in clear", sent)
	}
	signed, err := nodepool.ParseSigned([]byte(sent[0]))
	if err != nil {
		t.Fatalf("a caller's envelope is not signed: %v", err)
	}
	if err := signed.Verify(who.EnvelopeKeys()); err != nil || signed.Caller != who.Id {
		t.Fatalf("signed by %q: %v", signed.Caller, err)
	}
	env, err := nodepool.Parse([]byte(signed.Envelope))
	if err != nil {
		t.Fatal(err)
	}
	req, err := env.Open(b.sealer)
	if err != nil || req.ScalingGroup.Password != "Ab1!&=+ x" {
		t.Fatalf("Open = %v, %v", req, err)
	}
	if env.Caller != who.Id || env.Source != nodepool.SourceChatOps || env.RequestId != "req_1" || !env.ReceivedAt.Equal(testNow) {
		t.Errorf("envelope %+v", env)
	}
	acc := b.records(t, "test: accepted")
	if len(acc) != 1 || acc[0]["user"] != "U1" || acc[0]["messageId"] != "msg-1" || acc[0]["ClusterId"] != "eck-demo0001" {
		t.Errorf("acceptance record %v", acc)
	}
	if _, err := b.a.Submit(context.Background(), Checked{}); err == nil || CodeOf(err) != "" {
		t.Errorf("Submit of an unchecked request = %v, want a fault", err)
	}
}

// TestSubmitOutlivesTheCaller: a caller hanging up does not cancel the
// send, so an acknowledged envelope is never reported as not accepted.
func TestSubmitOutlivesTheCaller(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	ctx, cancel := context.WithCancel(context.Background())
	c, err := b.a.Check(ctx, Request{Request: request(), RequestID: "req_1", Source: nodepool.SourceWebhook})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := b.a.Submit(ctx, c); err != nil || len(b.q.sent()) != 1 {
		t.Fatalf("Submit after the caller left = %v, %d sent", err, len(b.q.sent()))
	}
}

// TestRemember: the worker's use — Check a request it did not submit,
// then remember it, so another body under its RequestId is refused.
func TestRemember(t *testing.T) {
	t.Parallel()
	seen := nodepool.NewSeen(0)
	a, err := New(Config{Keys: seen})
	if err != nil {
		t.Fatal(err)
	}
	c, err := a.Check(context.Background(), Request{Request: request(), RequestID: "req_1", Channel: caller.SourceQueue})
	if err != nil {
		t.Fatal(err)
	}
	a.Remember(c)
	other := request()
	other.NodepoolInfo.Name = "p2"
	if !seen.Conflicts("req_1", nodepool.Digest(other)) {
		t.Fatal("Remember did not record the RequestId in Keys")
	}
	_, err = a.Check(context.Background(), Request{Request: other, RequestID: "req_1", Channel: caller.SourceQueue})
	if CodeOf(err) != CodeKeyReused {
		t.Errorf("Check of another body = %v, want %s", err, CodeKeyReused)
	}
	if _, err := a.Submit(context.Background(), c); err == nil {
		t.Error("Submit without Config.Queue succeeded")
	}
}

// TestErrorsCarryTheirCause: what a front door shows is found with
// errors.As in the refusal: validation fields, the caller's rule.
func TestErrorsCarryTheirCause(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	r := request()
	r.ClusterId, r.ScalingGroup.ImageId = "nope", ""
	_, err := b.a.Check(context.Background(), Request{Request: r, Err: errors.New("size: not a number")})
	var ve *nodepool.ValidationError
	if !errors.As(err, &ve) || len(ve.Fields) != 2 || !strings.Contains(err.Error(), "size: not a number") {
		t.Errorf("invalid: %v, want the reading error and both fields", err)
	}
	if !errors.Is(err, nodepool.ErrInvalid) {
		t.Errorf("%v does not match nodepool.ErrInvalid", err)
	}
	r = request()
	r.ClusterId = "eck-other"
	_, err = b.a.Check(context.Background(), Request{Request: r, Caller: testCaller(t)})
	var de *caller.DeniedError
	if !errors.As(err, &de) || de.Rule != "Clusters" || !errors.Is(err, caller.ErrForbidden) {
		t.Errorf("forbidden: %v", err)
	}
	if _, err := New(Config{SendTimeout: -1}); !errors.Is(err, ErrConfig) {
		t.Errorf("negative SendTimeout: %v", err)
	}
}
