package callback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callbackurl"
)

// textRenderer is a fake chat format: {"text": "<type>"} with a token
// header; Check reads {"ok": bool, "gone": bool}.
type textRenderer struct{ renderErr error }

func (r textRenderer) Render(_ context.Context, c *http.Client, dest *url.URL, ev Event) ([]byte, http.Header, error) {
	if c == nil || dest == nil {
		return nil, nil, errors.New("no client or dest")
	}
	if r.renderErr != nil {
		return nil, nil, r.renderErr
	}
	b, _ := json.Marshal(map[string]string{"text": ev.Type + " " + ev.Data.Name})
	return b, http.Header{"Authorization": {"Bearer t"}}, nil
}

func (textRenderer) Check(_ int, body []byte) error {
	var v struct{ OK, Gone bool }
	_ = json.Unmarshal(body, &v)
	switch {
	case v.Gone:
		return fmt.Errorf("%w: expired_url", ErrGone)
	case !v.OK:
		return errors.New("not ok")
	}
	return nil
}

func TestTryRenderedFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		renderer  Renderer
		answer    string
		status    int
		format    string
		expires   time.Duration // from the clock; 0 = none
		want      Outcome
		wantPosts int
	}{
		{"delivered", textRenderer{}, `{"ok":true}`, 200, "chat", 0, Delivered, 1},
		{"200 with error body retries", textRenderer{}, `{"ok":false}`, 200, "chat", 0, Retry, 1},
		{"200 gone body", textRenderer{}, `{"gone":true}`, 200, "chat", 0, Gone, 1},
		{"404 gone body", textRenderer{}, `{"gone":true}`, 404, "chat", 0, Gone, 1},
		{"500 retries", textRenderer{}, `{}`, 500, "chat", 0, Retry, 1},
		{"unknown format refused", textRenderer{}, `{"ok":true}`, 200, "other", 0, Refused, 0},
		{"expired destination", textRenderer{}, `{"ok":true}`, 200, "chat", -time.Second, Gone, 0},
		{"not yet expired", textRenderer{}, `{"ok":true}`, 200, "chat", time.Minute, Delivered, 1},
		{"render refused", textRenderer{renderErr: fmt.Errorf("%w: host", callbackurl.ErrRefused)}, `{}`, 200, "chat", 0, Refused, 0},
		{"render transient", textRenderer{renderErr: errors.New("token endpoint down")}, `{}`, 200, "chat", 0, Retry, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.answer))
			})
			tb := setup(t, func(c *Config) { c.Renderers = map[string]Renderer{"chat": tt.renderer} })
			d := NewDelivery(rc.URL+"/reply", sampleEvent(), tb.clock.Now())
			d.Format = tt.format
			if tt.expires != 0 {
				d.ExpiresAt = tb.clock.Now().Add(tt.expires)
			}
			a, tried := tb.sender.Try(context.Background(), d)
			if !tried {
				t.Fatal("Try: not tried")
			}
			if a.Outcome != tt.want {
				t.Fatalf("outcome = %s (%s), want %s", a.Outcome, a.Error, tt.want)
			}
			reqs := rc.Requests()
			if len(reqs) != tt.wantPosts {
				t.Fatalf("posts = %d, want %d", len(reqs), tt.wantPosts)
			}
			if len(reqs) == 1 {
				r := reqs[0]
				if got, want := string(r.Body), `{"text":"nodepool.active pool-a"}`; got != want {
					t.Errorf("body = %s, want %s", got, want)
				}
				if r.Header.Get("webhook-signature") != "" || r.Header.Get("webhook-id") != "" {
					t.Errorf("a rendered format must not carry Standard Webhooks headers: %v", r.Header)
				}
				if got := r.Header.Get("Authorization"); got != "Bearer t" {
					t.Errorf("Authorization = %q", got)
				}
				if got := r.Header.Get("User-Agent"); !strings.HasPrefix(got, UserAgentPrefix) {
					t.Errorf("User-Agent = %q", got)
				}
			}
		})
	}
}

func TestTryDefaultFormatStillSigned(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, status(200))
	tb := setup(t, func(c *Config) { c.Renderers = map[string]Renderer{"chat": textRenderer{}} })
	d := NewDelivery(rc.URL, sampleEvent(), tb.clock.Now())
	if a, _ := tb.sender.Try(context.Background(), d); a.Outcome != Delivered {
		t.Fatalf("outcome = %s", a.Outcome)
	}
	r := rc.Requests()[0]
	if !specVerify(t, testSecret, r.Header, r.Body) {
		t.Fatal("default format must stay Standard Webhooks signed")
	}
}

func TestDeliveryFormatJSONBackwardsCompatible(t *testing.T) {
	t.Parallel()
	// A Delivery written before formats existed decodes with no format.
	old := `{"MessageID":"msg_1","URL":"https://example.com/cb","Event":{"type":"nodepool.active","timestamp":"2026-05-04T10:00:00Z","data":{"RequestId":"r","ClusterId":"c","Name":"n","NodepoolId":"np"}},"NextAt":"2026-05-04T10:00:00Z","State":"pending"}`
	var d Delivery
	if err := json.Unmarshal([]byte(old), &d); err != nil {
		t.Fatal(err)
	}
	if d.Format != "" || !d.ExpiresAt.IsZero() {
		t.Fatalf("Format=%q ExpiresAt=%v, want zero", d.Format, d.ExpiresAt)
	}
	b, _ := json.Marshal(d)
	if strings.Contains(string(b), "Format") || strings.Contains(string(b), "ExpiresAt") {
		t.Fatalf("zero Format/ExpiresAt must be omitted: %s", b)
	}
}

func TestNewClientGuarded(t *testing.T) {
	t.Parallel()
	c, err := NewClient(Config{Resolver: staticResolver(nil)})
	if err != nil {
		t.Fatal(err)
	}
	rc := newReceiver(t, status(200))
	_, err = c.Get(rc.URL)
	if !errors.Is(err, callbackurl.ErrRefused) {
		t.Fatalf("loopback without Allow: err = %v, want callbackurl.ErrRefused", err)
	}
}
