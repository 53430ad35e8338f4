package fclocal

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/events"

	"github.com/ensnodepool/webhook/pkg/fcadapter"
)

var measure = flag.Bool("measure", false, "run TestMeasure (cold start and latency numbers for the notes)")

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// TestMeasure prints cold start and invocation latency:
//
//	go test -run TestMeasure -measure -v ./pkg/dev/fclocal/
func TestMeasure(t *testing.T) {
	if !*measure {
		t.Skip("run with -measure")
	}
	// Cold start: process start → first GET next, over fresh runtimes.
	var cold []time.Duration
	for range 10 {
		rt, err := New(Config{Functions: []Function{{Name: "echo", Binary: echoBinary}}, Output: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		if err := rt.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		cold = append(cold, rt.Instances("echo")[0].ColdStart)
		_ = rt.Close()
	}
	t.Logf("cold start (process start → first next), n=%d: p50 %v, max %v", len(cold), percentile(cold, .5), slices.Max(cold))

	rt, err := New(Config{Functions: []Function{{Name: "echo", Binary: echoBinary}}, Output: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	run := func(name string, f func()) {
		for range 50 {
			f() // warm up
		}
		lat := make([]time.Duration, n)
		for i := range n {
			start := time.Now()
			f()
			lat[i] = time.Since(start)
		}
		t.Logf("%-40s n=%d p50 %-10v p99 %v", name, n, percentile(lat, .5), percentile(lat, .99))
	}
	ctx := context.Background()
	run("Runtime.Invoke echo op", func() {
		if _, err := rt.Invoke(ctx, "echo", []byte(`{"op":"sleep","ms":0}`)); err != nil {
			t.Fatal(err)
		}
	})

	srv := httptest.NewServer(rt.HTTPTrigger("echo"))
	defer srv.Close()
	client := srv.Client()
	run("HTTP trigger round trip (net/http→FC)", func() {
		resp, err := client.Post(srv.URL+"/v1/x?a=1", "application/json", strings.NewReader(`{"hello":"world"}`))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatal(resp.Status)
		}
	})

	// Direct: the same kind of handler called in-process through the adapter.
	mux := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"method": r.Method, "path": r.URL.Path, "header": r.Header, "body": string(b)})
	})
	h := fcadapter.HTTPHandler(mux, nil)
	req := httptest.NewRequest(http.MethodPost, "http://x/v1/x?a=1", strings.NewReader(`{"hello":"world"}`))
	req.Header.Set("Content-Type", "application/json")
	payload, _ := json.Marshal(NewHTTPEvent(req, []byte(`{"hello":"world"}`), "rid", "acct", time.Now()))
	run("direct fcadapter.HTTPHandler call", func() {
		var ev events.HTTPTriggerEvent
		if err := json.Unmarshal(payload, &ev); err != nil {
			t.Fatal(err)
		}
		resp, err := h(ctx, ev)
		if err != nil || resp.StatusCode != 200 {
			t.Fatal(err)
		}
		if _, err := json.Marshal(resp); err != nil {
			t.Fatal(err)
		}
	})
}

// BenchmarkInvoke measures one invocation through the runtime API.
func BenchmarkInvoke(b *testing.B) {
	rt, err := New(Config{Functions: []Function{{Name: "echo", Binary: echoBinary}}, Output: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close()
	if err := rt.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		if _, err := rt.Invoke(ctx, "echo", []byte(`{"op":"sleep","ms":0}`)); err != nil {
			b.Fatal(err)
		}
	}
}
