package localstack_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/dev/localstack"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
)

func TestRequest(t *testing.T) {
	got, err := localstack.Request(testkit.Template(t, filepath.Join("..", "..", "..")), "pool-7", "http://127.0.0.1:1234/callback")
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
	if _, err := localstack.Request([]byte("[1]"), "x", "y"); err == nil {
		t.Error("Request(array) = nil error")
	}
}

func TestReceiver(t *testing.T) {
	sec := testkit.NewSecrets(t)
	rcv, err := localstack.NewReceiver(sec.Callback, "")
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
	if got := post(sec.Callback, "msg_1"); got != http.StatusNoContent {
		t.Errorf("signed: %d, want 204", got)
	}
	if got := post(sec.Callback, "msg_1"); got != http.StatusNoContent {
		t.Errorf("redelivery: %d, want 204", got)
	}
	if got := post(sec.Webhook, "msg_2"); got != http.StatusUnauthorized {
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
