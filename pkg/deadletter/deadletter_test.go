package deadletter_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/deadletter"
	"github.com/ensnodepool/webhook/pkg/dev/enssim"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
	"github.com/ensnodepool/webhook/pkg/ens"
	"github.com/ensnodepool/webhook/pkg/mns"
	"github.com/ensnodepool/webhook/pkg/nodepool"
	"github.com/ensnodepool/webhook/pkg/poller"
	"github.com/ensnodepool/webhook/pkg/tracking"
)

func TestParse(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	env := envelope(t, "req_p1", "eck-demo0001", "p1", "")
	withCaller := strings.Replace(requestRecord(t, "req_p2", "eck-demo0001", "p2", "Conflict", at, env),
		`"Kind"`, `"Caller":"portal-a","Kind"`, 1)
	d := callbackDelivery("req_p3", "eck-demo0002", "p3", "https://hooks.example.com/x", callback.StateGone, at)
	for _, tc := range []struct {
		name, body                    string
		kind, cause, rid, cluster, cl string
		at                            time.Time
	}{
		{"request", requestRecord(t, "req_p1", "eck-demo0001", "p1", "InvalidParameter", at, env),
			deadletter.KindRequest, "InvalidParameter", "req_p1", "eck-demo0001", "", at},
		{"request with a Caller", withCaller, deadletter.KindRequest, "Conflict", "req_p2", "eck-demo0001", "portal-a", at},
		{"callback", callbackRecord(t, d, at), deadletter.KindCallback, "gone", "req_p3", "eck-demo0002", "", at},
		{"tracking", trackingRecord(t, at), deadletter.KindTracking, "invalid", "req_trk", "eck-demo0001", "", at},
		{"CloudEvent", cloudEvent(t, env, false), deadletter.KindTrigger, deadletter.ReasonTrigger, "req_p1", "eck-demo0001", "", time.Time{}},
		{"CloudEvent, base64 body", cloudEvent(t, env, true), deadletter.KindTrigger, deadletter.ReasonTrigger, "req_p1", "eck-demo0001", "", time.Time{}},
		{"bare envelope", env, deadletter.KindTrigger, deadletter.ReasonTrigger, "req_p1", "eck-demo0001", "", time.Time{}},
		{"envelope with a Caller", strings.Replace(env, `"Source"`, `"Caller":{"Id":"ops"},"Source"`, 1),
			deadletter.KindTrigger, deadletter.ReasonTrigger, "req_p1", "eck-demo0001", `{"Id":"ops"}`, time.Time{}},
		{"not JSON", "<xml/>", deadletter.KindUnknown, "unreadable", "", "", "", time.Time{}},
		{"other JSON", `{"hello":1}`, deadletter.KindUnknown, "unreadable", "", "", "", time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := deadletter.Parse(mns.Message{ID: "ID1", Body: tc.body})
			if r.Kind != tc.kind || r.Cause() != tc.cause || r.RequestId != tc.rid || r.ClusterId != tc.cluster ||
				r.Caller != tc.cl || !r.At.Equal(tc.at) {
				t.Fatalf("got %+v (cause %q)", r, r.Cause())
			}
		})
	}
}

func TestListGroupsAndFilters(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	now := time.Now()
	env := func(rid string) string { return envelope(t, rid, "eck-demo0001", rid, "") }
	s.put(t,
		requestRecord(t, "req_a", "eck-demo0001", "a", "Conflict", now.Add(-3*time.Hour), env("req_a")),
		requestRecord(t, "req_b", "eck-demo0002", "b", "Conflict", now.Add(-time.Hour), env("req_b")),
		strings.Replace(requestRecord(t, "req_c", "eck-demo0001", "c", "InvalidRequest", now.Add(-10*time.Minute), env("req_c")),
			`"Kind"`, `"Caller":"portal-a","Kind"`, 1),
		callbackRecord(t, callbackDelivery("req_d", "eck-demo0001", "d", "https://x.example/cb", callback.StateGone, now), now.Add(-2*time.Hour)),
		trackingRecord(t, now.Add(-time.Minute)),
		cloudEvent(t, env("req_e"), false),
	)
	l, err := s.tool.List(ctx, deadletter.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	type g struct {
		kind, cause string
		n           int
	}
	var got []g
	for _, x := range l.Groups {
		got = append(got, g{x.Kind, x.Cause, x.Count})
	}
	want := []g{{"callback", "gone", 1}, {"request", "Conflict", 2}, {"request", "InvalidRequest", 1},
		{"tracking", "invalid", 1}, {"trigger", deadletter.ReasonTrigger, 1}}
	if !slices.Equal(got, want) || l.Scanned != 6 || len(l.Records) != 6 {
		t.Fatalf("groups %v, scanned %d, records %d", got, l.Scanned, len(l.Records))
	}
	if c := l.Groups[1]; !c.Oldest.Equal(now.Add(-3*time.Hour).UTC()) || !c.Newest.Equal(now.Add(-time.Hour).UTC()) {
		t.Fatalf("Conflict ages %+v", c)
	}
	if l.Records[0].RequestId != "req_a" {
		t.Fatalf("records not oldest first: %+v", l.Records[0])
	}
	// Listing consumes nothing: every record is back, visible again.
	if st := s.settle(t, "dl"); st.Total != 6 || st.Visible != 6 {
		t.Fatalf("after list: %+v", st)
	}

	for name, tc := range map[string]struct {
		f    deadletter.Filter
		want []string // RequestIds
	}{
		"kind":        {deadletter.Filter{Kind: "request"}, []string{"req_a", "req_b", "req_c"}},
		"cluster":     {deadletter.Filter{Kind: "request", ClusterId: "eck-demo0002"}, []string{"req_b"}},
		"request id":  {deadletter.Filter{RequestId: "req_d"}, []string{"req_d"}},
		"cause":       {deadletter.Filter{Cause: "Conflict"}, []string{"req_a", "req_b"}},
		"older than":  {deadletter.Filter{OlderThan: 90 * time.Minute}, []string{"req_a", "req_d"}},
		"newer than":  {deadletter.Filter{NewerThan: 30 * time.Minute, Kind: "request"}, []string{"req_c"}},
		"caller":      {deadletter.Filter{Caller: "portal-a"}, []string{"req_c"}},
		"caller none": {deadletter.Filter{Caller: "nobody"}, nil},
	} {
		l, err := s.tool.List(ctx, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range l.Records {
			ids = append(ids, r.RequestId)
		}
		if !slices.Equal(ids, tc.want) {
			t.Errorf("%s: %v, want %v", name, ids, tc.want)
		}
		s.settle(t, "dl")
	}
}

func TestShowMasksPasswordsKeepsSealed(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	sealed := envelope(t, "req_s", "eck-demo0001", "s", marker)
	var e nodepool.Envelope
	if err := json.Unmarshal([]byte(sealed), &e); err != nil || e.SealedPassword == "" {
		t.Fatalf("fixture: %v", err)
	}
	// A producer that put a clear password on the queue: the trigger's
	// dead letter carries the body as it was.
	clear := strings.Replace(envelope(t, "req_c", "eck-demo0001", "c", ""), `"KeyPairName":"demo-keypair"`,
		`"Password":"`+marker+`"`, 1)
	ids := s.put(t, requestRecord(t, "req_s", "eck-demo0001", "s", "Conflict", time.Now(), sealed), cloudEvent(t, clear, false))

	r, err := s.tool.Show(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != ids[0] || r.RequestId != "req_s" || !strings.Contains(r.Body, e.SealedPassword) || strings.Contains(r.Body, marker) {
		t.Fatalf("show %+v", r)
	}
	s.settle(t, "dl")
	r, err = s.tool.Show(ctx, ids[1])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.Body, marker) || !strings.Contains(r.Body, nodepool.Mask) {
		t.Fatalf("clear password shown: %s", r.Body)
	}
	if st := s.settle(t, "dl"); st.Total != 2 {
		t.Fatalf("show consumed records: %+v", st)
	}
	if _, err := s.tool.Show(ctx, "0000000000000000FFFFFFFFFFFFFFFF"); !errors.Is(err, deadletter.ErrNotFound) {
		t.Fatalf("missing id: %v", err)
	}
	// Records another reader holds cannot be shown, and the error says so.
	s.settle(t, "dl")
	if got, err := s.dlq.Receive(ctx, 16, 0); err != nil || len(got) != 2 {
		t.Fatalf("receive: %d %v", len(got), err)
	}
	if _, err := s.tool.Show(ctx, ids[0]); !errors.Is(err, deadletter.ErrNotFound) || !strings.Contains(err.Error(), "2 records are held") {
		t.Fatalf("held record: %v", err)
	}
}

func TestRedrive(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	now := time.Now()
	envA := envelope(t, "req_a", "eck-demo0001", "a", marker)
	envE := envelope(t, "req_e", "eck-demo0001", "e", "")
	d := callbackDelivery("req_d", "eck-demo0001", "d", "https://x.example/cb", callback.StateExhausted, now)
	d.Format, d.ExpiresAt = "slack", now.Add(time.Hour).UTC().Truncate(time.Millisecond)
	truncated := strings.Replace(requestRecord(t, "req_t", "eck-demo0001", "t", "Undecodable", now, "{"), `"Body"`, `"Truncated":true,"Body"`, 1)
	s.put(t,
		requestRecord(t, "req_a", "eck-demo0001", "a", "InvalidParameter", now, envA),
		callbackRecord(t, d, now),
		cloudEvent(t, envE, true),
		trackingRecord(t, now),
		truncated,
		`not json`,
	)

	// Dry run: says what would move, moves nothing.
	acts, err := s.tool.Redrive(ctx, deadletter.Filter{}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := outcomes(acts); n[deadletter.WouldRedrive] != 3 || n[deadletter.Skipped] != 3 || len(acts) != 6 {
		t.Fatalf("dry run %v", n)
	}
	if st := s.settle(t, "dl"); st.Total != 6 || len(s.bodies(t, "reqs"))+len(s.bodies(t, "trk")) != 0 {
		t.Fatalf("dry run changed something: %+v", st)
	}

	// A filter limits what moves.
	acts, err = s.tool.Redrive(ctx, deadletter.Filter{Kind: deadletter.KindCallback}, false, nil)
	if err != nil || len(acts) != 1 || acts[0].Outcome != deadletter.Redriven || acts[0].To != "tracking" {
		t.Fatalf("callback redrive %+v %v", acts, err)
	}
	trk := s.bodies(t, "trk")
	if len(trk) != 1 {
		t.Fatalf("tracking queue %v", trk)
	}
	m, err := tracking.Parse([]byte(trk[0]))
	if err != nil {
		t.Fatal(err)
	}
	nd := m.Deliveries[0]
	if len(m.Deliveries) != 1 || !m.Terminal || m.Done() || nd.MessageID != d.MessageID || len(nd.Attempts) != 0 ||
		nd.State != callback.Pending || nd.URL != d.URL || !nd.Due(time.Now()) || m.RequestId != "req_d" || m.NodepoolId != "np-d" ||
		nd.Format != d.Format || !nd.ExpiresAt.Equal(d.ExpiresAt) || m.CallbackFormat != d.Format {
		t.Fatalf("redriven tracking message %+v", m)
	}
	wantBody, _ := d.Event.Body()
	if gotBody, _ := nd.Event.Body(); string(gotBody) != string(wantBody) {
		t.Fatalf("event body changed:\n%s\n%s", gotBody, wantBody)
	}
	s.settle(t, "dl")

	// The rest: the request and trigger records go back as the envelopes
	// they were; the others stay.
	acts, err = s.tool.Redrive(ctx, deadletter.Filter{}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := outcomes(acts); n[deadletter.Redriven] != 2 || n[deadletter.Skipped] != 3 {
		t.Fatalf("redrive %v %+v", n, acts)
	}
	reqs := s.bodies(t, "reqs")
	slices.Sort(reqs)
	want := []string{envA, envE}
	slices.Sort(want)
	if !slices.Equal(reqs, want) {
		t.Fatalf("requests queue:\n%v\nwant\n%v", reqs, want)
	}
	if st := s.settle(t, "dl"); st.Total != 3 {
		t.Fatalf("left on the dead-letter queue: %+v", st)
	}
	for _, a := range acts {
		if a.Outcome == deadletter.Skipped && a.Detail == "" {
			t.Errorf("skip without a reason: %+v", a)
		}
	}
}

// TestRedrivenCallbackIsDelivered runs the real poller on the redriven
// tracking message: the receiver gets the event again, under its original
// webhook-id, with a fresh attempt history.
func TestRedrivenCallbackIsDelivered(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	var mu sync.Mutex
	var got []string
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Header.Get("webhook-id")+" "+string(b))
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rcv.Close)
	d := callbackDelivery("req_d", "eck-demo0001", "d", rcv.URL+"/cb", callback.StateGone, time.Now())
	s.put(t, callbackRecord(t, d, time.Now()))
	if _, err := s.tool.Redrive(ctx, deadletter.Filter{}, false, nil); err != nil {
		t.Fatal(err)
	}

	ensSim := testkit.StartENS(t, enssim.Config{AccessKeyID: testAK, AccessKeySecret: testSK})
	snd, err := callback.NewDeliverer(callback.Config{Secrets: []string{"whsec_" + "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="},
		AllowHTTP: true, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = snd.Close() })
	p, err := poller.New(poller.Config{Tracking: s.tracking, DeadLetter: s.dlq, Pools: ensSim.Client(t, ens.Config{}),
		Deliverer: snd, ReceiveWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	st, err := p.Tick(ctx)
	if err != nil || st.Delivered != 1 {
		t.Fatalf("tick %+v %v", st, err)
	}
	body, _ := d.Event.Body()
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0] != d.MessageID+" "+string(body) {
		t.Fatalf("receiver got %q", got)
	}
	if q, _ := s.mns.Inspector().Queue(ctx, "trk"); q.Total != 0 {
		t.Fatalf("tracking message left: %+v", q)
	}
}

// TestRedriveLeavesNewRecords: a record written while a redrive runs (a
// redriven request that failed again) waits for the next run.
func TestRedriveLeavesNewRecords(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	env := envelope(t, "req_n", "eck-demo0001", "n", "")
	s.put(t, requestRecord(t, "req_n", "eck-demo0001", "n", "InternalError", time.Now(), env))
	time.Sleep(5 * time.Millisecond) // the run starts after the first record's enqueue time
	s.tool.AfterSend = func(deadletter.Record) {
		time.Sleep(5 * time.Millisecond)
		s.put(t, requestRecord(t, "req_n", "eck-demo0001", "n", "InternalError", time.Now(), env))
	}
	acts, err := s.tool.Redrive(ctx, deadletter.Filter{}, false, nil)
	if err != nil || len(acts) != 1 || acts[0].Outcome != deadletter.Redriven {
		t.Fatalf("redrive %+v %v", acts, err)
	}
	if st := s.settle(t, "dl"); st.Total != 1 {
		t.Fatalf("dead letters %+v, want the new record left", st)
	}
}

func TestPurge(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	now := time.Now()
	env := envelope(t, "req_x", "eck-demo0001", "x", "")
	s.put(t,
		requestRecord(t, "req_a", "eck-demo0001", "a", "Conflict", now, env),
		requestRecord(t, "req_b", "eck-demo0001", "b", "Conflict", now, env),
		trackingRecord(t, now),
	)
	f := deadletter.Filter{Cause: "Conflict"}
	acts, err := s.tool.Purge(ctx, f, true, nil)
	if err != nil || outcomes(acts)[deadletter.WouldPurge] != 2 {
		t.Fatalf("dry purge %+v %v", acts, err)
	}
	s.settle(t, "dl")
	var asked []deadletter.Record
	acts, err = s.tool.Purge(ctx, f, false, func(r []deadletter.Record) bool { asked = r; return false })
	if !errors.Is(err, deadletter.ErrNotConfirmed) || outcomes(acts)[deadletter.Kept] != 2 || len(acts) != 2 || len(asked) != 2 {
		t.Fatalf("refused purge %+v %v (asked about %d); want 2 kept and ErrNotConfirmed", acts, err, len(asked))
	}
	if st := s.settle(t, "dl"); st.Total != 3 {
		t.Fatalf("refused purge deleted: %+v", st)
	}
	acts, err = s.tool.Purge(ctx, f, false, func([]deadletter.Record) bool { return true })
	if err != nil || outcomes(acts)[deadletter.Purged] != 2 {
		t.Fatalf("purge %+v %v", acts, err)
	}
	if st := s.settle(t, "dl"); st.Total != 1 {
		t.Fatalf("after purge %+v", st)
	}
	if b := s.bodies(t, "dl"); !strings.Contains(b[0], `"Kind":"tracking"`) {
		t.Fatalf("the wrong record stayed: %s", b[0])
	}
}

func outcomes(acts []deadletter.Action) map[string]int {
	n := map[string]int{}
	for _, a := range acts {
		n[a.Outcome]++
	}
	return n
}

// TestParseWithholdsUnparseableBodies: a dead letter that is not JSON (a
// password in it could not be found) is shown as a note of its size.
func TestParseWithholdsUnparseableBodies(t *testing.T) {
	t.Parallel()
	r := deadletter.Parse(mns.Message{ID: "X", Body: "Password=" + marker + "&x"})
	if strings.Contains(r.Body, marker) || !strings.Contains(r.Body, "withheld") || !json.Valid([]byte(r.Body)) {
		t.Fatalf("shown body %q, want a JSON note without the password", r.Body)
	}
}

// TestToolRefusesWhatWouldHoldNothing: a hold MNS cannot keep (over its
// 12-hour visibility limit, under 1 s) and filters no record could match
// (an unknown Kind, a negative age) are errors before anything is read,
// not a listing of nothing.
func TestToolRefusesWhatWouldHoldNothing(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.put(t, trackingRecord(t, time.Now()))
	ctx := context.Background()
	for name, tc := range map[string]struct {
		hold time.Duration
		f    deadletter.Filter
		want error
	}{
		"hold over 12h":       {13 * time.Hour, deadletter.Filter{}, deadletter.ErrConfig},
		"hold under 1s":       {500 * time.Millisecond, deadletter.Filter{}, deadletter.ErrConfig},
		"unknown kind":        {0, deadletter.Filter{Kind: "bogus"}, deadletter.ErrFilter},
		"negative older-than": {0, deadletter.Filter{OlderThan: -time.Hour}, deadletter.ErrFilter},
		"negative newer-than": {0, deadletter.Filter{NewerThan: -time.Minute}, deadletter.ErrFilter},
	} {
		tool := *s.tool
		tool.Hold = tc.hold
		if _, err := tool.List(ctx, tc.f); !errors.Is(err, tc.want) {
			t.Errorf("%s: List = %v, want %v", name, err, tc.want)
		}
		if _, err := tool.Purge(ctx, tc.f, false, nil); !errors.Is(err, tc.want) {
			t.Errorf("%s: Purge = %v, want %v", name, err, tc.want)
		}
	}
	if st := s.settle(t, "dl"); st.Total != 1 || st.Visible != 1 {
		t.Fatalf("refused commands touched the queue: %+v", st)
	}
	tool := *s.tool
	tool.Hold = deadletter.MaxHold
	if l, err := tool.List(ctx, deadletter.Filter{Kind: deadletter.KindTracking}); err != nil || len(l.Records) != 1 {
		t.Errorf("List with the longest hold: %+v %v", l, err)
	}
}

// TestCallerFound: the Caller of a trigger dead letter whose CloudEvent
// carries the envelope base64-encoded is found (-caller filters on it),
// and a record with several spellings of the member is attributed the
// same way every time: "Caller" first, then the others in byte order.
func TestCallerFound(t *testing.T) {
	t.Parallel()
	env := envelope(t, "req_c1", "eck-demo0001", "c1", "")
	env = strings.Replace(env, `"Source"`, `"Caller":"portal-b","Source"`, 1)
	for _, b64 := range []bool{false, true} {
		if r := deadletter.Parse(mns.Message{ID: "X", Body: cloudEvent(t, env, b64)}); r.Caller != "portal-b" || r.RequestId != "req_c1" {
			t.Errorf("CloudEvent (base64 %v): Caller %q, RequestId %q", b64, r.Caller, r.RequestId)
		}
	}
	for body, want := range map[string]string{
		`{"Kind":"x","caller":"b","CALLER":"c","Caller":"a"}`:    "a",
		`{"Kind":"x","caller":"b","CALLER":"c"}`:                 "c",
		`{"Kind":"x","inner":{"caller":"z"},"b":{"cAller":"y"}}`: "y",
	} {
		for range 20 {
			if r := deadletter.Parse(mns.Message{ID: "X", Body: body}); r.Caller != want {
				t.Fatalf("%s: Caller %q, want %q", body, r.Caller, want)
			}
		}
	}
}

// TestBodyJSON: a record's body reads as JSON with the envelope it carries
// shown as JSON — from a request record's Body string and from a
// CloudEvent's base64 message body — passwords still masked.
func TestBodyJSON(t *testing.T) {
	t.Parallel()
	env := envelope(t, "req_j1", "eck-demo0001", "j1", "")
	for name, body := range map[string]string{
		"request record":    requestRecord(t, "req_j1", "eck-demo0001", "j1", "Conflict", time.Now(), env),
		"base64 CloudEvent": cloudEvent(t, env, true),
	} {
		r := deadletter.Parse(mns.Message{ID: "X", Body: body})
		got := r.BodyJSON()
		if !json.Valid(got) || !strings.Contains(string(got), `{"Version":1,"RequestId":"req_j1"`) || strings.Contains(string(got), `\"`) {
			t.Errorf("%s: %s", name, got)
		}
	}
	pw := strings.Replace(env, `"KeyPairName":"demo-keypair"`, `"Password":"`+marker+`"`, 1)
	r := deadletter.Parse(mns.Message{ID: "X", Body: cloudEvent(t, pw, true)})
	if got := string(r.BodyJSON()); strings.Contains(got, marker) || !strings.Contains(got, `"Password":"******"`) {
		t.Errorf("password in a base64 body: %s", got)
	}
	r = deadletter.Parse(mns.Message{ID: "X", Body: "not json"})
	if got := r.BodyJSON(); !json.Valid(got) {
		t.Errorf("not JSON: %s", got)
	}
}
