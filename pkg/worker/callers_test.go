package worker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/caller"
	"github.com/ensnodepool/webhook/pkg/worker"
)

// TestCallersRecheck: with CALLERS, the worker creates only for an
// envelope naming a known caller whose policy allows the request; an
// envelope naming no caller, an unknown one, or a request outside the
// policy is dead-lettered with code Forbidden and its callback told
// nodepool.failed Forbidden; ENS sees only the allowed create. The
// tracking message carries the caller, so the poller signs its events
// with that caller's secret.
func TestCallersRecheck(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	set, err := caller.Parse([]byte(`[{"Id":"portal-a","Clusters":["*"],"MaxDesiredSize":3},{"Id":"team-b","Clusters":["eck-none*"]}]`))
	if err != nil {
		t.Fatal(err)
	}
	w := b.withWorker(t, func(c *worker.Config) { c.Callers = set })
	envFor := func(name, who string, size int32) string {
		r := b.request(0, name)
		r.ScalingGroup.DesiredSize = size
		body := b.envelope(t, r, "req_"+name, time.Now())
		if who != "" {
			body = strings.Replace(body, `"Source":"queue"`, `"Source":"queue","Caller":"`+who+`"`, 1)
		}
		return body
	}
	b.enqueue(t,
		envFor("ok", "portal-a", 2),
		envFor("nocaller", "", 2),
		envFor("unknown", "nobody", 2),
		envFor("toobig", "portal-a", 4),
		envFor("othercluster", "team-b", 1),
	)
	res, err := w.HandleBatch(context.Background(), batch(b.pull(t, b.requests, 16, 0)))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, it := range res.Items {
		got[it.Name] = string(it.Outcome) + "/" + it.Code
	}
	want := map[string]string{"ok": "created/", "nocaller": "rejected/Forbidden", "unknown": "rejected/Forbidden",
		"toobig": "rejected/Forbidden", "othercluster": "rejected/Forbidden"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s, want %s", k, got[k], v)
		}
	}
	if n := b.createCounts(); len(n) != 1 {
		t.Errorf("ENS creates %v, want only the allowed pool", n)
	}
	dls := b.deadLetters(t)
	if len(dls) != 4 {
		t.Fatalf("dead letters %d, want 4", len(dls))
	}
	reasons := ""
	for _, d := range dls {
		if d.Code != worker.CodeForbidden {
			t.Errorf("dead letter code %q", d.Code)
		}
		reasons += d.Reason + "\n"
	}
	for _, s := range []string{"names no Caller", `Caller "nobody" is not in CALLERS`, "at most 3 for this caller (rule MaxDesiredSize)", "(rule Clusters)"} {
		if !strings.Contains(reasons, s) {
			t.Errorf("dead-letter reasons lack %q:\n%s", s, reasons)
		}
	}
	failed := 0
	for _, ev := range b.recv.events() {
		if ev.Event.Type == callback.TypeFailed {
			failed++
			if ev.Event.Data.Error == nil || ev.Event.Data.Error.Code != worker.CodeForbidden {
				t.Errorf("failed event %+v", ev.Event.Data)
			}
		}
	}
	if failed != 4 {
		t.Errorf("nodepool.failed events %d, want 4", failed)
	}
	found := false
	for _, tm := range b.trackingMessages(t) {
		if tm.Name == "ok" {
			found = true
			if tm.Caller != "portal-a" {
				t.Errorf("tracking Caller = %q", tm.Caller)
			}
		}
	}
	if !found {
		t.Error("no tracking message for the created pool")
	}
}
