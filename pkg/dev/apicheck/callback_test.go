package apicheck

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/ens"
)

const callbackSecret = "whsec_ZW5zLW5vZGVwb29sLXdlYmhvb2stdGVzdC1jYWxsYmFjaw=="

// events are one event of each type as the worker and the poller make
// them (see pkg/worker track and reportFailure, pkg/poller decide).
func events() []callback.Event {
	at := time.Date(2026, 5, 4, 9, 57, 1, 0, time.UTC)
	watch := at.Add(24 * time.Hour)
	data := func(seq int) callback.EventData {
		return callback.EventData{RequestId: "req_ijd664d3hd2i37rhdq7qsen3jz", ClusterId: "eck-demo0001", Name: "demo-pool",
			NodepoolId: "np-0001", EnsRegionId: "cn-hangzhou-58", Sequence: seq}
	}
	creating, active, timeout := data(1), data(2), data(2)
	active.Status = &ens.NodePoolStatus{DesiredNodes: 2, ServingNodes: 2, TotalNodes: 2, State: "active"}
	timeout.WatchUntil, timeout.Status = &watch, &ens.NodePoolStatus{DesiredNodes: 2, InitialNodes: 2, TotalNodes: 2, State: "scaling"}
	timeout.Error = &callback.ErrorInfo{Code: callback.CodeNodepoolTimeout, Message: "node pool np-0001 was not active by its deadline"}
	failed := callback.EventData{RequestId: "req_ijd664d3hd2i37rhdq7qsen3jz", ClusterId: "eck-demo0001", Name: "demo-pool", Sequence: 1,
		Error: &callback.ErrorInfo{Code: "InvalidParameter", Message: "ENS refused the vSwitch"}} // an ENS code passed through
	return []callback.Event{
		{Type: callback.TypeCreating, Timestamp: at, Data: creating},
		{Type: callback.TypeActive, Timestamp: at, Data: active},
		{Type: callback.TypeFailed, Timestamp: at, Data: failed},
		{Type: callback.TypeTimeout, Timestamp: at, Data: timeout},
	}
}

// TestSentCallbacksMatchDocument: the real callback sender (pkg/callback)
// delivers one event of each type to a receiver behind Receiver: each
// matches its webhook, signature included.
func TestSentCallbacksMatchDocument(t *testing.T) {
	t.Parallel()
	check := NewT(t, Config{CallbackSecrets: []string{callbackSecret}})
	var mu sync.Mutex
	var got []string
	rcv := httptest.NewServer(check.Receiver(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev callback.Event
		_ = json.NewDecoder(r.Body).Decode(&ev)
		mu.Lock()
		got = append(got, ev.Type)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})))
	defer rcv.Close()
	s, err := callback.NewDeliverer(callback.Config{Secrets: []string{callbackSecret}, AllowHTTP: true,
		Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, ev := range events() {
		if a := s.Deliver(context.Background(), rcv.URL+"/cb", ev.MessageID(), ev); a.Outcome != callback.Delivered {
			t.Fatalf("%s: %+v", ev.Type, a)
		}
	}
	if len(got) != 4 || check.Checked() != 4 {
		t.Errorf("received %v, checked %d", got, check.Checked())
	}
}

// delivered returns the headers and body the sender's signer makes for ev,
// the body changed by edit (if any) before it is signed.
func delivered(tb testing.TB, ev callback.Event, with string, edit func([]byte) []byte) (http.Header, []byte) {
	tb.Helper()
	body, err := ev.Body()
	if err != nil {
		tb.Fatal(err)
	}
	if edit != nil {
		body = edit(body)
	}
	signer, err := callback.NewSigner(with)
	if err != nil {
		tb.Fatal(err)
	}
	h, err := signer.Headers(ev.MessageID(), time.Now(), body)
	if err != nil {
		tb.Fatal(err)
	}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", callback.UserAgentPrefix+callback.Version)
	return h, body
}

// TestCallbackDriftFails: a callback the document does not describe —
// a missing member, a member of another event type, an unknown type, a
// wrong header or signature — is a failure.
func TestCallbackDriftFails(t *testing.T) {
	t.Parallel()
	evs := events()
	creating, active, failed, timeout := evs[0], evs[1], evs[2], evs[3]
	cases := []struct {
		name    string
		ev      callback.Event
		with    string
		body    func([]byte) []byte // before signing
		header  func(http.Header)   // after signing
		failing bool
	}{
		{"as sent", active, callbackSecret, nil, nil, false},
		{"ENS code passed through", failed, callbackSecret, nil, nil, false},
		{"active without Status", withData(active, func(d *callback.EventData) { d.Status = nil }), callbackSecret, nil, nil, true},
		{"creating without NodepoolId", withData(creating, func(d *callback.EventData) { d.NodepoolId = "" }), callbackSecret, nil, nil, true},
		{"no Sequence", withData(creating, func(d *callback.EventData) { d.Sequence = 0 }), callbackSecret, nil, nil, true},
		{"active with an Error", withData(active, func(d *callback.EventData) { d.Error = failed.Data.Error }), callbackSecret, nil, nil, true},
		{"failed with the timeout code", withData(failed, func(d *callback.EventData) { d.Error = timeout.Data.Error }), callbackSecret, nil, nil, true},
		{"timeout without WatchUntil", withData(timeout, func(d *callback.EventData) { d.WatchUntil = nil }), callbackSecret, nil, nil, true},
		{"unknown type", callback.Event{Type: "nodepool.deleted", Timestamp: active.Timestamp, Data: active.Data}, callbackSecret, nil, nil, true},
		{"extra member", active, callbackSecret, func(b []byte) []byte {
			return []byte(strings.Replace(string(b), `"data":{`, `"data":{"Password":"x",`, 1))
		}, nil, true},
		{"signed with another secret", active, otherSecret, nil, nil, true},
		{"no User-Agent", active, callbackSecret, nil, func(h http.Header) { h.Del("User-Agent") }, true},
		{"webhook-id not msg_", active, callbackSecret, nil, func(h http.Header) { h.Set("webhook-id", "evt_1") }, true},
		{"no webhook-signature", active, callbackSecret, nil, func(h http.Header) { h.Del("webhook-signature") }, true},
	}
	for _, c := range cases {
		check, err := New(Config{CallbackSecrets: []string{callbackSecret}})
		if err != nil {
			t.Fatal(err)
		}
		h, body := delivered(t, c.ev, c.with, c.body)
		if c.header != nil {
			c.header(h)
		}
		err = check.CheckCallback(context.Background(), h, body)
		if (err != nil) != c.failing || len(check.Failures()) != map[bool]int{false: 0, true: 1}[c.failing] {
			t.Errorf("%s: failing = %v, want %v (%v)", c.name, err != nil, c.failing, err)
		}
	}
}

func withData(ev callback.Event, f func(*callback.EventData)) callback.Event {
	f(&ev.Data)
	return ev
}
