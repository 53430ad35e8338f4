package tracking

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
)

var t0 = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

func sample() *Message {
	return &Message{
		Version: Version, RequestId: "req-1", ClusterId: "eck-1", Name: "pool-a", NodepoolId: "np-1",
		CallbackUrl: "https://hooks.example.com/cb", CreatedAt: t0, Deadline: t0.Add(time.Hour),
	}
}

func TestParseRoundTrip(t *testing.T) {
	m := sample()
	m.Tell(callback.Event{Type: callback.TypeCreating, Timestamp: t0}, t0)
	body, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse([]byte(body))
	if err != nil {
		t.Fatalf("Parse(Marshal(m)): %v", err)
	}
	again, _ := got.Marshal()
	if again != body {
		t.Errorf("round trip changed the body:\n got %s\nwant %s", again, body)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"empty", ``, "EOF"},
		{"not json", `hello`, "invalid character"},
		{"array", `[]`, "cannot unmarshal array"},
		{"unknown field", `{"Version":1,"RequestId":"r","ClusterId":"eck-c","Name":"n","NodepoolId":"np","Password":"x"}`, "unknown field"},
		{"trailing data", `{"Version":1,"RequestId":"r","ClusterId":"eck-c","Name":"n","NodepoolId":"np"} {}`, "trailing data"},
		{"wrong version", `{"Version":2,"RequestId":"r","ClusterId":"eck-c","Name":"n","NodepoolId":"np"}`, "version 2"},
		{"no version", `{"RequestId":"r","ClusterId":"eck-c","Name":"n","NodepoolId":"np"}`, "version 0"},
		{"no request id", `{"Version":1,"ClusterId":"eck-c","Name":"n","NodepoolId":"np"}`, "required"},
		{"no cluster", `{"Version":1,"RequestId":"r","Name":"n","NodepoolId":"np"}`, "required"},
		{"no name", `{"Version":1,"RequestId":"r","ClusterId":"eck-c","NodepoolId":"np"}`, "required"},
		{"no pool id, not terminal", `{"Version":1,"RequestId":"r","ClusterId":"eck-c","Name":"n"}`, "must be Terminal"},
		{"bad time", `{"Version":1,"RequestId":"r","ClusterId":"eck-c","Name":"n","NodepoolId":"np","CreatedAt":"yesterday"}`, "cannot parse"},
		{"escape sequences in an id", `{"Version":1,"RequestId":"r","ClusterId":"eck-c","Name":"n\u001b[2J","NodepoolId":"np"}`, "not well-formed"},
		{"a caller that is not an Id", `{"Version":1,"RequestId":"r","ClusterId":"eck-c","Name":"n","NodepoolId":"np","Caller":"A\r"}`, "not well-formed"},
		{"wrong type", `{"Version":1,"RequestId":"r","ClusterId":"eck-c","Name":"n","NodepoolId":"np","Checks":"3"}`, "cannot unmarshal string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.body))
			if err == nil {
				t.Fatalf("Parse = %+v, want an error", m)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not match ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
	// A request that failed before ENS assigned an id is valid when terminal.
	if _, err := Parse([]byte(`{"Version":1,"RequestId":"r","ClusterId":"eck-c","Name":"n","Terminal":true}`)); err != nil {
		t.Errorf("terminal message without NodepoolId: %v", err)
	}
}

func TestTellOnce(t *testing.T) {
	m := sample()
	ev := callback.Event{Type: callback.TypeActive, Timestamp: t0,
		Data: callback.EventData{RequestId: m.RequestId, NodepoolId: m.NodepoolId}}
	if !m.Tell(ev, t0) {
		t.Fatal("first Tell = false")
	}
	if m.Tell(ev, t0.Add(time.Minute)) {
		t.Error("second Tell of the same type = true")
	}
	if len(m.Deliveries) != 1 || len(m.Told) != 1 {
		t.Fatalf("Deliveries %d, Told %v; want one each", len(m.Deliveries), m.Told)
	}
	d := m.Deliveries[0]
	if d.MessageID != callback.MessageID("req-1", "np-1", callback.TypeActive) || !d.NextAt.Equal(t0) || d.State != callback.Pending {
		t.Errorf("delivery = %+v", d)
	}
	if !m.WasTold(callback.TypeActive) || m.WasTold(callback.TypeFailed) {
		t.Error("WasTold wrong")
	}
	// Without a callback URL the event is recorded as told, nothing is queued.
	n := sample()
	n.CallbackUrl = ""
	if !n.Tell(ev, t0) || len(n.Deliveries) != 0 || !n.WasTold(callback.TypeActive) {
		t.Errorf("no URL: Deliveries %v Told %v", n.Deliveries, n.Told)
	}
}

func TestDone(t *testing.T) {
	pending := callback.Delivery{State: callback.Pending}
	tests := []struct {
		name       string
		terminal   bool
		deliveries []callback.Delivery
		want       bool
	}{
		{"in flight", false, nil, false},
		{"terminal, nothing pending", true, nil, true},
		{"terminal, pending delivery", true, []callback.Delivery{pending}, false},
		{"terminal, delivered", true, []callback.Delivery{{State: callback.StateDelivered}}, true},
		{"terminal, exhausted and delivered", true, []callback.Delivery{{State: callback.StateExhausted}, {State: callback.StateDelivered}}, true},
		{"in flight, delivered", false, []callback.Delivery{{State: callback.StateDelivered}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := sample()
			m.Terminal, m.Deliveries = tt.terminal, tt.deliveries
			if got := m.Done(); got != tt.want {
				t.Errorf("Done() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNextWake(t *testing.T) {
	b := Backoff{First: 10 * time.Second, Max: 2 * time.Minute}
	now := t0.Add(5 * time.Minute)
	tests := []struct {
		name string
		edit func(m *Message)
		b    Backoff
		want time.Duration
	}{
		{"first check", func(m *Message) {}, b, 10 * time.Second},
		{"doubles", func(m *Message) { m.Checks = 1 }, b, 20 * time.Second},
		{"doubles again", func(m *Message) { m.Checks = 3 }, b, 80 * time.Second},
		{"capped", func(m *Message) { m.Checks = 4 }, b, 2 * time.Minute},
		{"capped, many checks", func(m *Message) { m.Checks = 1000 }, b, 2 * time.Minute},
		{"defaults", func(m *Message) { m.Checks = 2 }, Backoff{}, 40 * time.Second},
		{"deadline first", func(m *Message) { m.Checks = 10; m.Deadline = now.Add(30 * time.Second) }, b, 30 * time.Second},
		{"deadline passed: the backoff again", func(m *Message) { m.Deadline = now.Add(-time.Minute) }, b, 10 * time.Second},
		{"late watch ends first", func(m *Message) {
			m.Checks, m.Deadline, m.WatchUntil = 10, now.Add(-time.Minute), now.Add(7*time.Second)
		}, b, 7 * time.Second},
		{"delivery first", func(m *Message) {
			m.Checks = 10
			m.Deliveries = []callback.Delivery{{State: callback.Pending, NextAt: now.Add(5 * time.Second)}}
		}, b, 5 * time.Second},
		{"delivery later than check", func(m *Message) {
			m.Deliveries = []callback.Delivery{{State: callback.Pending, NextAt: now.Add(time.Hour)}}
		}, b, 10 * time.Second},
		{"terminal: only deliveries count", func(m *Message) {
			m.Terminal = true
			m.Deliveries = []callback.Delivery{
				{State: callback.StateExhausted},
				{State: callback.Pending, NextAt: now.Add(5 * time.Hour)},
				{State: callback.Pending, NextAt: now.Add(30 * time.Minute)},
			}
		}, b, 30 * time.Minute},
		{"terminal, nothing pending", func(m *Message) { m.Terminal = true }, b, time.Second},
		{"overdue delivery", func(m *Message) {
			m.Deliveries = []callback.Delivery{{State: callback.Pending, NextAt: now.Add(-time.Hour)}}
		}, b, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := sample()
			tt.edit(m)
			if got := m.NextWake(now, tt.b); got != tt.want {
				t.Errorf("NextWake = %v, want %v", got, tt.want)
			}
		})
	}
}

// FuzzParse checks that Parse never panics and that whatever it accepts
// survives a Marshal/Parse round trip unchanged.
func FuzzParse(f *testing.F) {
	m := sample()
	m.Tell(callback.Event{Type: callback.TypeCreating, Timestamp: t0}, t0)
	body, _ := m.Marshal()
	f.Add([]byte(body))
	f.Add([]byte(`{"Version":1,"RequestId":"r","ClusterId":"c","Name":"n","Terminal":true}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not match ErrInvalid", err)
			}
			return
		}
		s1, err := m.Marshal()
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		m2, err := Parse([]byte(s1))
		if err != nil {
			t.Fatalf("Parse(Marshal(Parse(b))): %v\n%s", err, s1)
		}
		if s2, _ := m2.Marshal(); s2 != s1 {
			t.Fatalf("not stable:\n%s\n%s", s1, s2)
		}
	})
}

func TestTellCarriesChatFormat(t *testing.T) {
	m := sample()
	m.CallbackUrl, m.CallbackFormat, m.CallbackExpiresAt = "https://hooks.slack.com/commands/T1/1/x", "slack", t0.Add(30*time.Minute)
	m.Tell(callback.Event{Type: callback.TypeCreating, Timestamp: t0}, t0)
	if d := m.Deliveries[0]; d.Format != "slack" || !d.ExpiresAt.Equal(t0.Add(30*time.Minute)) {
		t.Fatalf("delivery Format=%q ExpiresAt=%v", d.Format, d.ExpiresAt)
	}
	body, _ := m.Marshal()
	got, err := Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if got.CallbackFormat != "slack" || got.Deliveries[0].Format != "slack" {
		t.Fatalf("round trip lost the format: %s", body)
	}
	// A message written before formats existed still parses, format-less.
	old := `{"Version":1,"RequestId":"r","ClusterId":"eck-1","Name":"p","NodepoolId":"np-1","CallbackUrl":"https://x.example/cb","CreatedAt":"2026-05-04T10:00:00Z","Deadline":"2026-05-04T11:00:00Z"}`
	om, err := Parse([]byte(old))
	if err != nil || om.CallbackFormat != "" {
		t.Fatalf("old message: %+v, %v", om, err)
	}
}

// TestSequenceAndObserve: Tell numbers a request's events; Observe marks
// the URL gone after a 410 (ending the other pending deliveries to it and
// making later ones start gone) and drops pending deliveries of events
// older than a delivered one.
func TestSequenceAndObserve(t *testing.T) {
	ev := func(typ string) callback.Event {
		return callback.Event{Type: typ, Timestamp: t0, Data: callback.EventData{RequestId: "req-1", NodepoolId: "np-1"}}
	}
	t.Run("sequence", func(t *testing.T) {
		m := sample()
		m.Tell(ev(callback.TypeCreating), t0)
		m.Tell(ev(callback.TypeTimeout), t0)
		m.Tell(ev(callback.TypeTimeout), t0) // told once
		m.Tell(ev(callback.TypeActive), t0)
		var got []int
		for _, d := range m.Deliveries {
			got = append(got, d.Event.Data.Sequence)
		}
		if fmt.Sprint(got) != "[1 2 3]" {
			t.Errorf("sequences %v, want [1 2 3]", got)
		}
	})
	t.Run("gone", func(t *testing.T) {
		m := sample()
		m.Tell(ev(callback.TypeCreating), t0)
		m.Tell(ev(callback.TypeTimeout), t0)
		m.Deliveries[0].State = callback.StateGone
		if s := m.Observe(); len(s) != 0 {
			t.Errorf("superseded %v", s)
		}
		if !m.CallbackGone || m.Deliveries[1].State != callback.StateGone {
			t.Fatalf("after a 410: CallbackGone %v, other delivery %s; want true, gone", m.CallbackGone, m.Deliveries[1].State)
		}
		m.Tell(ev(callback.TypeActive), t0)
		if d := m.Deliveries[2]; d.State != callback.StateGone || d.Due(t0) || !d.Undeliverable() {
			t.Errorf("event after the 410: %+v, want it gone and never due", d)
		}
	})
	t.Run("superseded", func(t *testing.T) {
		m := sample()
		m.Tell(ev(callback.TypeCreating), t0)
		m.Tell(ev(callback.TypeActive), t0)
		m.Deliveries[0].NextAt = t0.Add(5 * time.Minute) // retry pending
		m.Deliveries[1].State = callback.StateDelivered
		s := m.Observe()
		if len(s) != 1 || s[0].Event.Type != callback.TypeCreating || m.Delivered != 2 {
			t.Fatalf("superseded %v, Delivered %d; want the creating, 2", s, m.Delivered)
		}
		if len(m.Deliveries) != 1 || m.Deliveries[0].Event.Type != callback.TypeActive {
			t.Errorf("left %+v, want only the delivered active (settled by the caller)", m.Deliveries)
		}
		// A later event is still sent.
		m.Deliveries = nil
		m.Told = m.Told[:1]
		m.Tell(ev(callback.TypeFailed), t0)
		if s := m.Observe(); len(s) != 0 || len(m.Deliveries) != 1 {
			t.Errorf("a newer event was dropped: %v", s)
		}
	})
}
