package main

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/dev/mnssim"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
	"github.com/ensnodepool/webhook/pkg/mns"
	"github.com/ensnodepool/webhook/pkg/queues"
)

// TestMain fails the run if a test leaves a goroutine running.
func TestMain(m *testing.M) { testkit.VerifyTestMain(m) }

const keyID, keySecret = "LTAI5tQueuesTest", "queues-test-secret"

func startMNS(t *testing.T) (string, *mns.Client) {
	t.Helper()
	sim, err := mnssim.New(mnssim.Config{AccessKeyID: keyID, AccessKeySecret: keySecret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	c, err := mns.New(mns.Config{Endpoint: srv.URL, Credentials: mns.Credentials{AccessKeyID: keyID, AccessKeySecret: keySecret}})
	if err != nil {
		t.Fatal(err)
	}
	return srv.URL, c
}

func env(endpoint string) func(string) string {
	m := map[string]string{config.EnvMNSEndpoint: endpoint, config.EnvAccessKeyID: keyID, config.EnvAccessKeySecret: keySecret}
	return func(k string) string { return m[k] }
}

// TestLifecycle: create → check (clean) → another client changes an
// attribute → check (drift, named) → create fixes it → delete asks, then
// deletes.
func TestLifecycle(t *testing.T) {
	ep, c := startMNS(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	do := func(stdin string, args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, args, env(ep), strings.NewReader(stdin), &out)
		return out.String(), err
	}
	specs := queues.Specs(queues.Names{}, queues.Timeouts{})

	out, err := do("", "create")
	if err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	for _, s := range specs {
		if !strings.Contains(out, "created "+s.Name+"\n") {
			t.Errorf("create output lacks %s:\n%s", s.Name, out)
		}
		a, err := c.Queue(s.Name).Attributes(ctx)
		if err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		if a.QueueAttributes != s.Attributes {
			t.Errorf("%s attributes %+v, want %+v", s.Name, a.QueueAttributes, s.Attributes)
		}
	}
	if out, err := do("", "create"); err != nil || strings.Contains(out, "created") || strings.Contains(out, "set ") {
		t.Errorf("second create is not a no-op: %v\n%s", err, out)
	}
	if out, err := do("", "check"); err != nil {
		t.Fatalf("check after create: %v\n%s", err, out)
	}

	tracking := specs[1]
	changed := tracking.Attributes
	changed.VisibilityTimeout = 60 * time.Second
	changed.Retention = time.Hour
	if err := c.SetQueueAttributes(ctx, tracking.Name, changed); err != nil {
		t.Fatal(err)
	}
	out, err = do("", "check")
	if !errors.Is(err, errDrift) {
		t.Fatalf("check after a change: err %v, want errDrift\n%s", err, out)
	}
	for _, want := range []string{
		"drift nodepool-tracking: VisibilityTimeout is 60, want 30\n",
		"drift nodepool-tracking: MessageRetentionPeriod is 3600, want 345600\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "drift "); n != 2 {
		t.Errorf("%d drift lines, want 2:\n%s", n, out)
	}

	out, err = do("", "create")
	if err != nil || !strings.Contains(out, "set nodepool-tracking VisibilityTimeout: 60 -> 30") {
		t.Fatalf("create does not fix the drift: %v\n%s", err, out)
	}
	if out, err := do("", "check"); err != nil {
		t.Fatalf("check after the fix: %v\n%s", err, out)
	}

	if out, err := do("no\n", "delete"); err == nil {
		t.Fatalf("delete without confirmation succeeded:\n%s", out)
	}
	if _, err := c.Queue(specs[0].Name).Attributes(ctx); err != nil {
		t.Fatalf("an unconfirmed delete removed a queue: %v", err)
	}
	if out, err := do("delete\n", "delete"); err != nil {
		t.Fatalf("confirmed delete: %v\n%s", err, out)
	}
	out, err = do("", "check")
	if !errors.Is(err, errDrift) || strings.Count(out, "Queue is missing, want exists") != len(specs) {
		t.Errorf("check after delete: %v\n%s", err, out)
	}
	if _, err := do("", "create"); err != nil {
		t.Fatal(err)
	}
	if out, err := do("", "-yes", "delete"); err != nil || strings.Count(out, "deleted ") != len(specs) {
		t.Errorf("delete -yes: %v\n%s", err, out)
	}
}

func TestUsageErrorsNameWhatIsMissing(t *testing.T) {
	ctx := t.Context()
	none := func(string) string { return "" }
	var out bytes.Buffer
	err := run(ctx, []string{"check"}, none, strings.NewReader(""), &out)
	for _, want := range []string{"-endpoint", config.EnvMNSEndpoint, config.EnvAccessKeyID, config.EnvAccessKeySecret} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
	if err := run(ctx, []string{"frobnicate"}, env("http://127.0.0.1:1"), strings.NewReader(""), &out); err == nil || !strings.Contains(err.Error(), "frobnicate") {
		t.Errorf("unknown command: %v", err)
	}
	if err := run(ctx, nil, env("http://127.0.0.1:1"), strings.NewReader(""), &out); err == nil {
		t.Error("no command accepted")
	}
}

// TestSpecsFollowTheTimeouts: the requests queue (read by EventBridge)
// hides a message for the worker's timeout plus the margin; the tracking
// queue's is the poller's heartbeat-held 30 s, whatever its timeout.
func TestSpecsFollowTheTimeouts(t *testing.T) {
	s := queues.Specs(queues.Names{}, queues.Timeouts{Worker: 6 * time.Second, Poller: 35 * time.Second})
	if got := s[0].Attributes.VisibilityTimeout; got != 36*time.Second {
		t.Errorf("requests visibility %v, want 36s", got)
	}
	if got := s[1].Attributes.VisibilityTimeout; got != queues.HeldVisibility {
		t.Errorf("tracking visibility %v, want %v", got, queues.HeldVisibility)
	}
	d := queues.Specs(queues.Names{}, queues.Timeouts{})
	names := []string{d[0].Name, d[1].Name, d[2].Name, d[3].Name}
	want := []string{config.DefaultRequestsQueue, config.DefaultTrackingQueue, config.DefaultDeadLetterQueue, queues.DefaultTriggerDeadLetter}
	for i := range want {
		if names[i] != want[i] {
			t.Errorf("names %v, want %v", names, want)
			break
		}
	}
}
