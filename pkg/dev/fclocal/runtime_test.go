package fclocal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testLogWriter sends instance output to t.Log.
type testLogWriter struct{ t testing.TB }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

type testBundle struct {
	rt    *Runtime
	creds atomic.Int64 // credentials handed out
}

// setup starts a Runtime hosting the echo binary as function "echo".
func setup(t *testing.T, mod func(*Function)) *testBundle {
	t.Helper()
	tb := &testBundle{}
	fn := Function{
		Name: "echo", Binary: echoBinary, Timeout: 5 * time.Second, Instances: 1,
		Env: map[string]string{"CUSTOM": "yes", "FC_FUNCTION_NAME": "spoofed"},
		Credentials: func() Creds {
			n := tb.creds.Add(1)
			return Creds{AccessKeyID: "ak", AccessKeySecret: "sk", SecurityToken: fmt.Sprintf("sts-%d", n)}
		},
	}
	if mod != nil {
		mod(&fn)
	}
	rt, err := New(Config{
		Functions: []Function{fn}, Region: "cn-test", AccountID: "42",
		Output: testLogWriter{t}, Logger: slog.New(slog.NewTextHandler(testLogWriter{t}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	t.Cleanup(func() { _ = rt.Close() })
	if err := rt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	tb.rt = rt
	return tb
}

func invoke(t *testing.T, rt *Runtime, payload string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return rt.Invoke(ctx, "echo", []byte(payload))
}

func TestInvokeSuccess(t *testing.T) {
	t.Parallel()
	tb := setup(t, nil)
	for i := range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := tb.rt.Do(ctx, Request{Function: "echo", Payload: []byte(`{"op":"echo","data":{"n":1}}`), RequestID: fmt.Sprintf("req-%d", i), RetryCount: 2})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Data       map[string]int
			Invocation struct {
				RequestID, FunctionName, FunctionHandler, MemoryMB, Region, AccountID string
				Timeout                                                               time.Duration
				RetryCount                                                            int
				Deadline                                                              time.Time
				Credentials                                                           struct{ AccessKeyID, SecurityToken string }
			}
			BudgetMs int64
			Env      map[string]string
		}
		if err := json.Unmarshal(res.Payload, &got); err != nil {
			t.Fatalf("%v: %s", err, res.Payload)
		}
		inv := got.Invocation
		checks := []struct{ what, got, want string }{
			{"data", fmt.Sprint(got.Data["n"]), "1"},
			{"request id", inv.RequestID, fmt.Sprintf("req-%d", i)},
			{"result request id", res.RequestID, fmt.Sprintf("req-%d", i)},
			{"function", inv.FunctionName, "echo"},
			{"handler", inv.FunctionHandler, "main"},
			{"memory", inv.MemoryMB, "512"},
			{"region", inv.Region, "cn-test"},
			{"account", inv.AccountID, "42"},
			{"timeout", inv.Timeout.String(), "5s"},
			{"retry", fmt.Sprint(inv.RetryCount), "2"},
			{"access key", inv.Credentials.AccessKeyID, "ak"},
			{"env function name (FC wins)", got.Env["FC_FUNCTION_NAME"], "echo"},
			{"env custom", got.Env["CUSTOM"], "yes"},
			{"env region", got.Env["FC_REGION"], "cn-test"},
			{"env key", got.Env["ALIBABA_CLOUD_ACCESS_KEY_ID"], "ak"},
			{"env api", got.Env["FC_RUNTIME_API"], tb.rt.Instances("echo")[0].API},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("%s: got %q, want %q", c.what, c.got, c.want)
			}
		}
		if inv.Credentials.SecurityToken == "" || inv.Credentials.SecurityToken == "sts-1" {
			t.Errorf("security token %q: want a fresh one per invocation", inv.Credentials.SecurityToken)
		}
		if got.BudgetMs <= 3000 || got.BudgetMs > 5000 {
			t.Errorf("budget %dms: want the deadline from x-fc-function-deadline (≈5s)", got.BudgetMs)
		}
	}
	if st := tb.rt.Instances("echo")[0]; st.Starts != 1 || st.ColdStart <= 0 || st.PID == 0 {
		t.Errorf("status %+v", st)
	}
}

func TestInvokeErrors(t *testing.T) {
	t.Parallel()
	tb := setup(t, nil)
	tests := []struct {
		name      string
		payload   string
		wantType  string
		wantMsg   string
		wantPanic bool
	}{
		{"handler error", `{"op":"error","msg":"boom"}`, "errorString", "boom", false},
		{"panic", `{"op":"panic","msg":"kaboom"}`, "string", "kaboom", true},
		{"bad payload", `not json`, "SyntaxError", "invalid character", false},
	}
	for _, tt := range tests {
		_, err := invoke(t, tb.rt, tt.payload)
		var fe *FunctionError
		if !errors.Is(err, ErrFunction) || !errors.As(err, &fe) {
			t.Fatalf("%s: got %v, want a FunctionError", tt.name, err)
		}
		if fe.Type != tt.wantType || !strings.Contains(fe.Message, tt.wantMsg) || fe.Panicked() != tt.wantPanic || fe.Function != "echo" {
			t.Errorf("%s: got %+v", tt.name, fe)
		}
	}
	// The process survives errors and panics.
	if _, err := invoke(t, tb.rt, `{"op":"echo"}`); err != nil {
		t.Fatal(err)
	}
	if got := tb.rt.Instances("echo")[0].Starts; got != 1 {
		t.Errorf("starts: got %d, want 1", got)
	}
	if _, err := tb.rt.Invoke(context.Background(), "nope", nil); !errors.Is(err, ErrUnknownFunction) {
		t.Errorf("unknown function: got %v", err)
	}
}

func TestTimeoutKillsAndRestarts(t *testing.T) {
	t.Parallel()
	tb := setup(t, func(f *Function) { f.Timeout = 400 * time.Millisecond })
	start := time.Now()
	_, err := invoke(t, tb.rt, `{"op":"sleep","ms":10000}`)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d < 400*time.Millisecond || d > 2*time.Second {
		t.Errorf("timed out after %v, want ≈400ms", d)
	}
	if _, err := invoke(t, tb.rt, `{"op":"echo"}`); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if got := tb.rt.Instances("echo")[0].Starts; got != 2 {
		t.Errorf("starts: got %d, want 2 (killed and restarted)", got)
	}
}

func TestCrashRestarts(t *testing.T) {
	t.Parallel()
	tb := setup(t, nil)
	_, err := invoke(t, tb.rt, `{"op":"exit","code":3}`)
	if !errors.Is(err, ErrCrashed) || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("got %v, want ErrCrashed with exit status 3", err)
	}
	if _, err := invoke(t, tb.rt, `{"op":"echo"}`); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if got := tb.rt.Instances("echo")[0].Starts; got != 2 {
		t.Errorf("starts: got %d, want 2", got)
	}
}

func TestPoolRunsConcurrently(t *testing.T) {
	t.Parallel()
	tb := setup(t, func(f *Function) { f.Instances = 2 })
	const n, sleep = 4, 300 * time.Millisecond
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	instances := map[string]int{}
	for range n {
		wg.Go(func() {
			out, err := invoke(t, tb.rt, fmt.Sprintf(`{"op":"sleep","ms":%d}`, sleep.Milliseconds()))
			if err != nil {
				t.Error(err)
				return
			}
			var got struct{ Instance string }
			_ = json.Unmarshal(out, &got)
			mu.Lock()
			instances[got.Instance]++
			mu.Unlock()
		})
	}
	wg.Wait()
	d := time.Since(start)
	// Two instances, one invocation each at a time: 4 × 300ms take ≥ 600ms
	// (never all four at once) and well under 4 × 300ms.
	if d < 2*sleep || d > 3*sleep+500*time.Millisecond {
		t.Errorf("4 invocations on 2 instances took %v, want ≈600ms", d)
	}
	if len(instances) != 2 {
		t.Errorf("instances used: %v, want 2", instances)
	}
}

func TestCloseFailsInFlight(t *testing.T) {
	t.Parallel()
	tb := setup(t, nil)
	errc := make(chan error, 1)
	go func() {
		_, err := tb.rt.Invoke(context.Background(), "echo", []byte(`{"op":"sleep","ms":10000}`))
		errc <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !tb.rt.Instances("echo")[0].Busy && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	if err := tb.rt.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %v", d)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("in-flight: got %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("in-flight invocation not released by Close")
	}
	if _, err := tb.rt.Invoke(context.Background(), "echo", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: got %v, want ErrClosed", err)
	}
	if st := tb.rt.Instances("echo")[0]; st.PID != 0 {
		t.Errorf("process still recorded after Close: %+v", st)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	notExec := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(notExec, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		fns  []Function
	}{
		{"none", nil},
		{"no name", []Function{{Binary: echoBinary}}},
		{"dup", []Function{{Name: "a", Binary: echoBinary}, {Name: "a", Binary: echoBinary}}},
		{"no binary", []Function{{Name: "a"}}},
		{"missing binary", []Function{{Name: "a", Binary: "/nonexistent/main"}}},
		{"not executable", []Function{{Name: "a", Binary: notExec}}},
		{"negative timeout", []Function{{Name: "a", Binary: echoBinary, Timeout: -1}}},
	}
	for _, tt := range tests {
		if _, err := New(Config{Functions: tt.fns}); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: got %v, want ErrConfig", tt.name, err)
		}
	}
}

func TestLineWriter(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	var mu sync.Mutex
	w := &lineWriter{mu: &mu, w: &buf, prefix: "[worker#1] "}
	_, _ = io.WriteString(w, "one\ntw")
	_, _ = io.WriteString(w, "o\nthree")
	w.flush()
	if got, want := buf.String(), "[worker#1] one\n[worker#1] two\n[worker#1] three\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
