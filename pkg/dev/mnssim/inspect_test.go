package mnssim_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/dev/mnssim"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
	"github.com/ensnodepool/webhook/pkg/mns"
)

func TestInspectCountsPeekPurge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClock()
	m := testkit.StartMNS(t, mnssim.Config{AccessKeyID: testAK, AccessKeySecret: testSK, Dir: t.TempDir(), Now: c.Now})
	qs := m.EnsureQueues(t, mns.QueueAttributes{VisibilityTimeout: time.Minute}, "insp-a", "insp-b")
	q := qs[0]
	for _, b := range []string{"one", "two", "three"} {
		if _, err := q.Send(ctx, b, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := q.Send(ctx, "later", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	c.Advance(5 * time.Second)
	got, err := q.Receive(ctx, 1, 0)
	if err != nil || len(got) != 1 || got[0].Body != "one" {
		t.Fatalf("receive: %v %v", got, err)
	}
	in := m.Inspector()
	st, err := in.Queue(ctx, "insp-a")
	if err != nil {
		t.Fatal(err)
	}
	want := mnssim.QueueStats{Name: "insp-a", Visible: 2, InFlight: 1, Delayed: 1, Total: 4, OldestAge: "5s", OldestAgeMs: 5000}
	if st != want {
		t.Fatalf("stats %+v, want %+v", st, want)
	}
	all, err := in.Queues(ctx)
	if err != nil || len(all) != 2 || all[0].Name != "insp-a" || all[1] != (mnssim.QueueStats{Name: "insp-b", OldestAge: "0s"}) {
		t.Fatalf("queues %+v (%v)", all, err)
	}

	// Peek shows every message and changes nothing: the visible ones are
	// still received next, with their dequeue count unchanged.
	msgs, err := in.Peek(ctx, "insp-a")
	if err != nil || len(msgs) != 4 {
		t.Fatalf("peek %+v (%v)", msgs, err)
	}
	states := map[string]string{}
	for _, pm := range msgs {
		states[pm.Body] = pm.State
	}
	if states["one"] != mnssim.StateInFlight || states["two"] != mnssim.StateVisible || states["later"] != mnssim.StateDelayed {
		t.Fatalf("states %v", states)
	}
	if msgs[0].Body != "two" || msgs[0].DequeueCount != 0 || msgs[0].ID == "" {
		t.Fatalf("first peeked %+v, want the next visible message, never received", msgs[0])
	}
	if _, err := in.Peek(ctx, "insp-a"); err != nil {
		t.Fatal(err)
	}
	got, err = q.Receive(ctx, 2, 0)
	if err != nil || len(got) != 2 || got[0].Body != "two" || got[0].DequeueCount != 1 {
		t.Fatalf("receive after peek: %+v %v", got, err)
	}

	n, err := in.Purge(ctx, "insp-a")
	if err != nil || n != 4 {
		t.Fatalf("purge: %d %v", n, err)
	}
	if st, _ := in.Queue(ctx, "insp-a"); st.Total != 0 {
		t.Fatalf("after purge %+v", st)
	}
	if err := q.Delete(ctx, got[0].ReceiptHandle); err == nil {
		t.Fatal("a purged message's receipt still deletes")
	}
	if _, err := in.Queue(ctx, "missing"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("missing queue: %v", err)
	}
}

// TestInspectNotThroughMNSPaths checks that the inspection API is reached
// only by its own raw path from a loopback Host, and that the MNS API
// never serves it (nor it the MNS API).
func TestInspectNotThroughMNSPaths(t *testing.T) {
	t.Parallel()
	m := testkit.StartMNS(t, mnssim.Config{AccessKeyID: testAK, AccessKeySecret: testSK})
	m.EnsureQueues(t, mns.QueueAttributes{}, "insp")
	for _, tc := range []struct {
		name, method, target, host string
		status                     int
		json                       bool
	}{
		{"admin", "GET", "/_emulator/queues", "127.0.0.1:9100", 200, true},
		{"admin localhost", "GET", "/_emulator/queues", "localhost:9100", 200, true},
		{"admin ipv6", "GET", "/_emulator/queues", "[::1]:9100", 200, true},
		{"rebound host", "GET", "/_emulator/queues", "evil.example.com", 403, true},
		{"rebound purge", "DELETE", "/_emulator/queues/insp/messages", "evil.example.com:9100", 403, true},
		{"a POST without a JSON body", "POST", "/_emulator/queues", "127.0.0.1", 415, true},
		{"behind an endpoint prefix", "GET", "/123.mns.cn-hangzhou.aliyuncs.com/_emulator/queues", "127.0.0.1", 0, false},
		{"escaped", "GET", "/%5Femulator/queues", "127.0.0.1", 0, false},
		{"double slash", "GET", "//_emulator/queues", "127.0.0.1", 0, false},
		{"as a queue", "GET", "/queues/_emulator", "127.0.0.1", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.target, nil)
			r.Host = tc.host
			w := httptest.NewRecorder()
			m.Server.ServeHTTP(w, r)
			body, _ := io.ReadAll(w.Body)
			isJSON := strings.HasPrefix(w.Header().Get("Content-Type"), "application/json")
			if isJSON != tc.json {
				t.Fatalf("%s %s: content type %q, body %s", tc.method, tc.target, w.Header().Get("Content-Type"), body)
			}
			if tc.json && w.Code != tc.status {
				t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.target, w.Code, body, tc.status)
			}
			if !tc.json && (w.Code < 400 || !strings.Contains(string(body), "<Error")) {
				t.Fatalf("%s %s reached something other than the MNS API's refusal: %d %s", tc.method, tc.target, w.Code, body)
			}
		})
	}
	// Over a real connection the Host is the listener's loopback address.
	resp, err := http.Get(m.URL() + "/_emulator/queues/insp")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET one queue over HTTP: %s", resp.Status)
	}
}
