package localstack

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
)

func TestConfigValidate(t *testing.T) {
	good := Config{WebhookSecrets: []string{DevWebhookSecret}, CallbackSecrets: []string{DevCallbackSecret},
		AccessKeyID: DevAccessKeyID, AccessKeySecret: DevAccessKeySecret, SealKeys: DevSealKeys}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // substring of the error; "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"no webhook secret", func(c *Config) { c.WebhookSecrets = nil }, "WebhookSecrets"},
		{"webhook secret not whsec", func(c *Config) { c.WebhookSecrets = []string{"abc"} }, "WebhookSecrets[0]"},
		{"no callback secret", func(c *Config) { c.CallbackSecrets = nil }, "CallbackSecrets"},
		{"no key pair", func(c *Config) { c.AccessKeySecret = "" }, "AccessKeyID"},
		{"no seal keys", func(c *Config) { c.SealKeys = "" }, "SealKeys"},
		{"bad address", func(c *Config) { c.HTTPAddr = "9000" }, "HTTPAddr"},
		{"bad protocol", func(c *Config) { c.ENSProtocol = "ftp" }, "ENSProtocol"},
		{"negative duration", func(c *Config) { c.PollInterval = -time.Second }, "durations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mutate(&c)
			err := c.withDefaults().validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrConfig)):
				t.Fatalf("validate() = %v, want ErrConfig mentioning %q", err, tt.want)
			}
		})
	}
	c := good.withDefaults()
	if c.HTTPAddr != "127.0.0.1:9000" || c.MNSAddr != "127.0.0.1:9100" || c.ENSAddr != "127.0.0.1:9200" ||
		c.DataDir != ".localstack" || c.PollInterval != 10*time.Second || c.ENSProvision != 20*time.Second {
		t.Errorf("defaults = %+v, want docs/local.md's (\"Flags\")", c)
	}
}

func TestRequest(t *testing.T) {
	got, err := Request(template(t), "pool-7", "http://127.0.0.1:1234/callback")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		ClusterId    string
		NodepoolInfo struct{ Name string }
		ScalingGroup struct {
			DesiredSize int
			DataDisks   []struct{ Size int }
		}
		Callback struct{ Url string }
	}
	if err := json.Unmarshal(got, &m); err != nil {
		t.Fatal(err)
	}
	if m.NodepoolInfo.Name != "pool-7" || m.Callback.Url != "http://127.0.0.1:1234/callback" {
		t.Errorf("rewritten = %s", got)
	}
	if m.ClusterId != "eck-demo0001" || m.ScalingGroup.DesiredSize != 3 || len(m.ScalingGroup.DataDisks) != 1 || m.ScalingGroup.DataDisks[0].Size != 80 {
		t.Errorf("other members changed: %s", got)
	}
	if _, err := Request([]byte("[1]"), "x", "y"); err == nil {
		t.Error("Request(array) = nil error")
	}
}

func TestReceiver(t *testing.T) {
	sec := newSecrets(t)
	rcv, err := NewReceiver(sec.callback, "")
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Close()
	ev := callback.Event{Type: callback.TypeActive, Timestamp: time.Now().UTC(), Data: callback.EventData{Name: "p"}}
	body, _ := json.Marshal(ev)
	post := func(secret, id string) int {
		t.Helper()
		s, err := callback.NewSigner(secret)
		if err != nil {
			t.Fatal(err)
		}
		h, err := s.Headers(id, time.Now(), body)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPost, rcv.URL(), strings.NewReader(string(body)))
		req.Header = h
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post(sec.callback, "msg_1"); got != http.StatusNoContent {
		t.Errorf("signed: %d, want 204", got)
	}
	if got := post(sec.callback, "msg_1"); got != http.StatusNoContent {
		t.Errorf("redelivery: %d, want 204", got)
	}
	if got := post(sec.webhook, "msg_2"); got != http.StatusUnauthorized {
		t.Errorf("other secret: %d, want 401", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c1, err := rcv.Next(ctx)
	if err != nil || c1.ID != "msg_1" || c1.Duplicate || c1.Event.Type != callback.TypeActive {
		t.Errorf("first = %+v, %v", c1, err)
	}
	c2, err := rcv.Next(ctx)
	if err != nil || !c2.Duplicate {
		t.Errorf("second = %+v, %v; want a duplicate", c2, err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if _, err := rcv.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Next on empty = %v, want deadline exceeded", err)
	}
	if n := rcv.Rejected(); n != 1 {
		t.Errorf("Rejected = %d, want 1", n)
	}
}

// The helpers below stand again in pkg/dev/localstack/stacktest, which this
// internal test cannot import (stacktest imports localstack).

// template reads events/create-nodepool.json (tests run in pkg/dev/localstack).
func template(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "events", "create-nodepool.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// secrets are one test's credentials.
type secrets struct{ webhook, callback string }

func newSecrets(t *testing.T) secrets {
	t.Helper()
	w, err := callback.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	c, err := callback.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return secrets{w, c}
}
