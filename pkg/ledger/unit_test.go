package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func staticCreds() Credentials { return Credentials{AccessKeyID: "id", AccessKeySecret: "secret"} }

// Open applies the defaults in one place and names the setting at fault,
// never its value.
func TestOpenConfig(t *testing.T) {
	t.Parallel()
	good := Config{Endpoint: "http://127.0.0.1:1/", Instance: "inst", Credentials: staticCreds}
	l, err := Open(context.Background(), good)
	if err != nil {
		t.Fatal(err)
	}
	if l.cfg.Table != DefaultTable || l.cfg.Retention != DefaultRetention || l.cfg.Timeout != DefaultTimeout ||
		l.cfg.Lease != DefaultLease || l.cfg.Scan != DefaultScan || l.cfg.Endpoint != "http://127.0.0.1:1" {
		t.Fatalf("defaults not applied: %+v", l.cfg)
	}
	for _, tc := range []struct {
		name    string
		mod     func(*Config)
		setting string
	}{
		{"NoScheme", func(c *Config) { c.Endpoint = "secret-host:1" }, "Config.Endpoint"},
		{"Instance", func(c *Config) { c.Instance = "a" }, "Config.Instance"},
		{"Table", func(c *Config) { c.Table = "9bad" }, "Config.Table"},
		{"RetentionShort", func(c *Config) { c.Retention = time.Hour }, "Config.Retention"},
		{"RetentionFraction", func(c *Config) { c.Retention = 25*time.Hour + time.Millisecond }, "Config.Retention"},
		{"Credentials", func(c *Config) { c.Credentials = nil }, "Config.Credentials"},
		{"Timeout", func(c *Config) { c.Timeout = time.Millisecond }, "Config.Timeout"},
		{"Lease", func(c *Config) { c.Lease = time.Millisecond }, "Config.Lease"},
		{"Scan", func(c *Config) { c.Scan = 6000 }, "Config.Scan"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := good
			tc.mod(&c)
			_, err := Open(context.Background(), c)
			if err == nil || !strings.Contains(err.Error(), tc.setting) {
				t.Fatalf("err = %v, want one naming %s", err, tc.setting)
			}
			if strings.Contains(err.Error(), "secret-host") {
				t.Fatalf("error shows the value: %v", err)
			}
		})
	}
	c := good
	c.Retention = -1
	if l, err := Open(context.Background(), c); err != nil || l.cfg.ttlSeconds() != -1 {
		t.Fatalf("negative retention: %v", err)
	}
}

// A Reservation is checked before anything is written; a password in the
// request never reaches the store.
func TestReservationCheck(t *testing.T) {
	t.Parallel()
	good := Reservation{Caller: "acme", Key: "k1", Digest: "d1", RequestId: "req_1", ClusterId: "eck-1", Name: "np",
		Request: json.RawMessage(`{"ClusterId":"eck-1","ScalingGroup":{"Password":""}}`), At: time.Unix(1, 0)}
	if err := good.check(true); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*Reservation)
		want string
	}{
		{"Caller", func(r *Reservation) { r.Caller = "Acme!" }, "Caller"},
		{"NoKey", func(r *Reservation) { r.Key = "" }, "Key"},
		{"LongKey", func(r *Reservation) { r.Key = strings.Repeat("k", MaxKeyLen+1) }, "Key"},
		{"Digest", func(r *Reservation) { r.Digest = "" }, "Digest"},
		{"RequestId", func(r *Reservation) { r.RequestId = "req 1" }, "RequestId"},
		{"Name", func(r *Reservation) { r.Name = "" }, "Name"},
		{"At", func(r *Reservation) { r.At = time.Time{} }, "At"},
		{"NotJSON", func(r *Reservation) { r.Request = json.RawMessage(`{`) }, "Request"},
		{"Password", func(r *Reservation) {
			r.Request = json.RawMessage(`{"ScalingGroup":{"DataDisks":[{"x":1}],"Password":"Sup3r-Secret"}}`)
		}, "password"},
		{"PasswordInArray", func(r *Reservation) { r.Request = json.RawMessage(`[{"password":"p"}]`) }, "password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := good
			tc.mod(&r)
			err := r.check(true)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrInvalid naming %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "Sup3r-Secret") {
				t.Fatalf("error shows the password: %v", err)
			}
		})
	}
	r := good
	r.Key = ""
	if err := r.check(false); err != nil {
		t.Fatalf("Seen needs no key: %v", err)
	}
}

// The state is the one of the event of highest Sequence that names one;
// progress events do not change it.
func TestParseRecordState(t *testing.T) {
	t.Parallel()
	l := &Ledger{cfg: Config{}.withDefaults()}
	ev := func(seq int, typ string) string {
		b, _ := json.Marshal(Event{Type: typ, Sequence: seq, At: time.Unix(int64(seq), 0).UTC()})
		return string(b)
	}
	for _, tc := range []struct {
		name string
		cols row
		want State
	}{
		{"NoEvents", row{}, StateAccepted},
		{"Creating", row{"ev_000001": ev(1, "nodepool.creating")}, StateCreating},
		{"HighestWins", row{"ev_000002": ev(2, "nodepool.active"), "ev_000001": ev(1, "nodepool.creating")}, StateActive},
		{"ActiveAfterTimeout", row{"ev_000003": ev(3, "nodepool.active"), "ev_000002": ev(2, "nodepool.timeout"), "ev_000001": ev(1, "nodepool.creating")}, StateActive},
		{"ProgressKeeps", row{"ev_000002": ev(2, "nodepool.progress"), "ev_000001": ev(1, "nodepool.creating")}, StateCreating},
		{"BadColumnSkipped", row{"ev_000002": "{", "ev_000001": ev(1, "nodepool.failed")}, StateFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := l.parseRecord("req_1", tc.cols)
			if rec.State != tc.want {
				t.Fatalf("State = %s, want %s", rec.State, tc.want)
			}
			for i := 1; i < len(rec.Events); i++ {
				if rec.Events[i-1].Sequence >= rec.Events[i].Sequence {
					t.Fatalf("events out of order: %+v", rec.Events)
				}
			}
		})
	}
}

// Page tokens round-trip; anything this package did not issue is ErrInvalid.
func TestPageToken(t *testing.T) {
	t.Parallel()
	sk := indexSK(time.UnixMilli(1700000000123), "req_abc")
	got, err := parsePageToken(pageToken(sk))
	if err != nil || got != sk {
		t.Fatalf("round trip: %q, %v", got, err)
	}
	for _, tok := range []string{"!!", pageToken("0001700000000000"), pageToken("170000000012#req_abc"),
		pageToken(sk + "#x"), pageToken(sk)[:10], pageToken(strings.Replace(sk, "req_abc", "req abc", 1))} {
		if _, err := parsePageToken(tok); !errors.Is(err, ErrInvalid) {
			t.Errorf("token %q: err = %v, want ErrInvalid", tok, err)
		}
	}
}

// Outbox records round-trip through Marshal and ParseOutbox, and bad ones
// are ErrInvalid.
func TestOutboxRecord(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	res := Reserved{RequestId: "req_1", Token: "t", Reservation: Reservation{Key: "k", Digest: "d", RequestId: "req_1",
		ClusterId: "c", Name: "n", Request: json.RawMessage(`{}`), At: at}}
	good := []OutboxRecord{
		QueuedRecord(res),
		SeenRecord(res.Reservation),
		EventRecord("req_1", Event{Type: "nodepool.creating", Sequence: 1, At: at}),
		FinishRecord("acme", "req_1", Event{Type: "nodepool.active", Sequence: 2, At: at}),
		DeliveryRecord("req_1", Attempt{WebhookId: "msg_1", Type: "nodepool.active", At: at, StatusCode: 200, DurationMs: 5}),
		MarkRecord("req_1", Mark{Kind: MarkDeadLettered, At: at, Reason: "gone"}),
		EndFlightRecord("", "req_1"),
	}
	for _, rec := range good {
		b, err := rec.Marshal()
		if err != nil {
			t.Fatalf("%s: %v", rec.Op, err)
		}
		back, err := ParseOutbox(b)
		if err != nil {
			t.Fatalf("%s: %v", rec.Op, err)
		}
		b2, _ := back.Marshal()
		if string(b) != string(b2) {
			t.Fatalf("%s: %s != %s", rec.Op, b, b2)
		}
	}
	for _, body := range []string{
		`{`, `[]`, `{"Op":"nope","RequestId":"req_1","Payload":{}}`,
		`{"Op":"event","RequestId":"req 1","Payload":{"Type":"t","Sequence":1,"At":"2026-01-01T00:00:00Z"}}`,
		`{"Op":"event","RequestId":"req_1","Payload":{"Type":"t","Sequence":0,"At":"2026-01-01T00:00:00Z"}}`,
		`{"Op":"event","RequestId":"req_1","Payload":{"Type":"t","Sequence":1,"At":"2026-01-01T00:00:00Z","X":1}}`,
		`{"Op":"event","RequestId":"req_1","Payload":{"Type":"t","Sequence":1,"At":"2026-01-01T00:00:00Z"},"Extra":1}`,
		`{"Op":"mark","RequestId":"req_1","Payload":{"Kind":"other","At":"2026-01-01T00:00:00Z"}}`,
		`{"Op":"seen","RequestId":"req_2","Payload":` + string(good[1].Payload) + `}`,
		`{"Op":"endflight","RequestId":"req_1","Payload":{"Caller":"Bad Caller"}}`,
	} {
		if _, err := ParseOutbox([]byte(body)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", body, err)
		}
	}
}

// FuzzParseOutbox: any input parses or fails with ErrInvalid, never panics,
// and what parses marshals back to something that parses the same.
func FuzzParseOutbox(f *testing.F) {
	f.Add(`{"Op":"event","RequestId":"req_1","Payload":{"Type":"nodepool.active","Sequence":2,"At":"2026-01-01T00:00:00Z"}}`)
	f.Add(`{"Op":"endflight","RequestId":"req_1","Payload":{"Caller":""}}`)
	f.Add(`{"Op":"seen","RequestId":"r","Payload":{"Digest":"d","RequestId":"r","ClusterId":"c","Name":"n","Request":{},"At":"2026-01-01T00:00:00Z"}}`)
	f.Add(`{"Op":"delivery","RequestId":"r","Payload":{"WebhookId":"w","At":"2026-01-01T00:00:00Z","DurationMs":-1}}`)
	f.Fuzz(func(t *testing.T, body string) {
		rec, err := ParseOutbox([]byte(body))
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			return
		}
		b, err := rec.Marshal()
		if err != nil {
			t.Fatalf("parsed but does not marshal: %v", err)
		}
		if _, err := ParseOutbox(b); err != nil {
			t.Fatalf("marshalled record does not parse: %v", err)
		}
	})
}

// Column names are deterministic, so a write applied twice writes the same
// column, and sort as text in time order.
func TestColumnNames(t *testing.T) {
	t.Parallel()
	at := time.UnixMilli(1700000000123)
	a := Attempt{WebhookId: "msg_1", At: at}
	if a.column() != (Attempt{WebhookId: "msg_1", At: at, StatusCode: 500}).column() {
		t.Fatal("the same attempt names two columns")
	}
	if a.column() == (Attempt{WebhookId: "msg_2", At: at}).column() {
		t.Fatal("two webhook-ids at one instant share a column")
	}
	if !(Event{Sequence: 9}.column() < Event{Sequence: 10}.column()) {
		t.Fatal("event columns do not sort by Sequence")
	}
	if got := (Mark{Kind: MarkRedriven, At: at}).column(); got != "mk_1700000000123_redriven" {
		t.Fatalf("mark column %q", got)
	}
}

// QuotaError and the other typed errors match their sentinels.
func TestErrorsMatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want error
	}{
		{&KeyReusedError{RequestId: "req_1"}, ErrKeyReused},
		{&InProgressError{RequestId: "req_1", RetryAfter: time.Second}, ErrInProgress},
		{&QuotaError{Quota: QuotaPerMinute, Limit: 1, RetryAfter: time.Second}, ErrQuota},
		{storeError("x", errors.New("dial tcp: connection refused")), ErrUnavailable},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%v does not match %v", tc.err, tc.want)
		}
	}
	if errors.Is(&StoreError{Op: "x", Code: "OTSParameterInvalid", Err: errors.New("bad")}, ErrUnavailable) {
		t.Error("a malformed request is reported as an outage")
	}
	if got := ceilSecond(1500 * time.Millisecond); got != 2*time.Second {
		t.Errorf("ceilSecond = %v", got)
	}
}
