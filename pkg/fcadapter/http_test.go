package fcadapter

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/events"
	"github.com/aliyun/fc-runtime-go-sdk/fccontext"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// golden compares got (marshalled as indented JSON) with testdata/name.
func golden(t *testing.T, name string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update once)", err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("%s mismatch:\ngot:\n%s\nwant:\n%s", name, b, want)
	}
}

func mustRead(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// echoRequest is what the echo handler reports about the request it saw.
type echoRequest struct {
	Method, URL, RequestURI, Host, RemoteAddr, Proto string
	ContentLength                                    int64
	Header                                           http.Header
	Query                                            map[string][]string
	Body                                             string
	Path, RawPath                                    string
	FCRequestID                                      string
}

// echoHandler writes a JSON description of the request; for POST /upload
// it echoes the body back as binary.
var echoHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.URL.Path == "/upload" {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(body)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(echoRequest{
		Method: r.Method, URL: r.URL.String(), RequestURI: r.RequestURI, Host: r.Host,
		RemoteAddr: r.RemoteAddr, Proto: r.Proto, ContentLength: r.ContentLength,
		Header: r.Header, Query: r.URL.Query(), Body: string(body),
		Path: r.URL.Path, RawPath: r.URL.RawPath, FCRequestID: RequestID(r.Context()),
	})
})

// fcCtx builds the context fc.Start would give a handler.
func fcCtx(t testing.TB, reqID string) context.Context {
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(time.Minute))
	t.Cleanup(cancel)
	return fccontext.NewContext(ctx, &fccontext.FcContext{
		RequestID:   reqID,
		Credentials: fccontext.Credentials{AccessKeyId: "ak", AccessKeySecret: "sk", SecurityToken: "tok"},
		Function:    fccontext.Function{Name: "webhook", Handler: "main", Memory: "128", Timeout: 10},
		Region:      "cn-hangzhou", AccountId: "123",
	})
}

func TestHTTPHandlerGolden(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"http-captured", "http-multivalue", "http-base64"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var ev events.HTTPTriggerEvent
			if err := json.Unmarshal(mustRead(t, name+".json"), &ev); err != nil {
				t.Fatal(err)
			}
			resp, err := HTTPHandler(echoHandler, nil)(fcCtx(t, "fc-req-"+name), ev)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Headers == nil {
				t.Fatal("Headers is nil; want a non-nil map")
			}
			golden(t, name+".golden.json", resp)
		})
	}
}

func TestHTTPHandlerDetails(t *testing.T) {
	t.Parallel()
	var ev events.HTTPTriggerEvent
	if err := json.Unmarshal(mustRead(t, "http-multivalue.json"), &ev); err != nil {
		t.Fatal(err)
	}
	req, err := NewRequest(fcCtx(t, "fc-1"), ev)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ what, got, want string }{
		{"method", req.Method, "GET"},
		{"escaped path kept", req.URL.EscapedPath(), "/v1/clusters/eck-demo0001/nodepools/pool%2Fa"},
		{"host from header", req.Host, "abc123.cn-hangzhou.fcapp.run"},
		{"lower-case header found", req.Header.Get("Content-Type"), "application/json"},
		{"comma-joined header one value", strings.Join(req.Header.Values("X-Forwarded-For"), "|"), "1.2.3.4,5.6.7.8"},
		{"caller cannot spoof request id", req.Header.Get(HeaderRequestID), "fc-1"},
		{"query", req.URL.Query().Get("verbose"), "1"},
		{"remote addr", req.RemoteAddr, "11.11.11.11:0"},
		{"context request id", RequestID(req.Context()), "fc-1"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.what, tt.got, tt.want)
		}
	}
}

func TestHTTPHandlerBase64RoundTrip(t *testing.T) {
	t.Parallel()
	var ev events.HTTPTriggerEvent
	if err := json.Unmarshal(mustRead(t, "http-base64.json"), &ev); err != nil {
		t.Fatal(err)
	}
	resp, err := HTTPHandler(echoHandler, nil)(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resp.StatusCode, http.StatusCreated; got != want {
		t.Errorf("status: got %d, want %d", got, want)
	}
	if !resp.IsBase64Encoded {
		t.Fatal("binary response not base64-encoded")
	}
	if got, want := resp.Body, *ev.Body; got != want {
		t.Errorf("body: got %q, want %q", got, want)
	}
	if got, want := resp.Headers["X-Multi"], "a, b"; got != want {
		t.Errorf("X-Multi: got %q, want %q", got, want)
	}
	// Without an FC context the trigger's request id is used.
	if got := resp.Headers[HeaderRequestID]; got != "" {
		t.Errorf("response should not invent headers, got %q", got)
	}
}

func TestHTTPHandlerRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		payload string
		want    error
	}{
		{"timer event", `{"triggerTime":"2023-12-26T07:49:00Z","triggerName":"t","payload":"p"}`, ErrNotHTTPEvent},
		{"empty object", `{}`, ErrNotHTTPEvent},
		{"bad base64", `{"body":"%%%","isBase64Encoded":true,"requestContext":{"http":{"method":"POST","path":"/"}}}`, ErrMalformedEvent},
		{"bad method", `{"requestContext":{"http":{"method":"GE T","path":"/"}}}`, ErrMalformedEvent},
		{"absolute url path", `{"rawPath":"//evil.example/x","requestContext":{"http":{"method":"GET"}}}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var ev events.HTTPTriggerEvent
			if err := json.Unmarshal([]byte(tt.payload), &ev); err != nil {
				t.Fatal(err)
			}
			called := false
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = true })
			_, err := HTTPHandler(h, nil)(context.Background(), ev)
			if tt.want == nil {
				if err != nil || !called {
					t.Fatalf("got %v (called %v), want the handler called", err, called)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if called {
				t.Error("handler called for a rejected event")
			}
		})
	}
}

func TestResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		ct, ce     string
		body       []byte
		wantBase64 bool
	}{
		{"json", "application/json", "", []byte(`{"a":1}`), false},
		{"problem json", "application/problem+json", "", []byte(`{"a":1}`), false},
		{"text", "text/plain; charset=utf-8", "", []byte("héllo"), false},
		{"invalid utf8", "text/plain", "", []byte{0xff, 0xfe}, true},
		{"octet-stream", "application/octet-stream", "", []byte("abc"), true},
		{"image", "image/png", "", []byte("abc"), true},
		{"gzip encoded", "application/json", "gzip", []byte("abc"), true},
		{"empty", "application/octet-stream", "", nil, false},
		{"no content type", "", "", []byte("abc"), false},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.ct != "" {
			h.Set("Content-Type", tt.ct)
		}
		if tt.ce != "" {
			h.Set("Content-Encoding", tt.ce)
		}
		resp := Response(200, h, tt.body)
		if resp.IsBase64Encoded != tt.wantBase64 {
			t.Errorf("%s: base64 got %v, want %v", tt.name, resp.IsBase64Encoded, tt.wantBase64)
		}
		got := []byte(resp.Body)
		if resp.IsBase64Encoded {
			got, _ = base64.StdEncoding.DecodeString(resp.Body)
		}
		if !bytes.Equal(got, tt.body) {
			t.Errorf("%s: body got %q, want %q", tt.name, got, tt.body)
		}
		if resp.Headers == nil {
			t.Errorf("%s: nil headers", tt.name)
		}
	}
	// A nil-header response still marshals "headers":{} (never null).
	b, _ := json.Marshal(Response(204, nil, nil))
	if !bytes.Contains(b, []byte(`"headers":{}`)) {
		t.Errorf("got %s, want headers {}", b)
	}
}

func TestRecorderDefaults(t *testing.T) {
	t.Parallel()
	ev := events.HTTPTriggerEvent{}
	m := "GET"
	ev.TriggerContext.Http.Method = &m
	resp, err := HTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "<html>hi</html>")
		w.WriteHeader(500) // too late: ignored like net/http
	}), nil)(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Headers["Content-Type"], "text/html") {
		t.Errorf("got %d %q", resp.StatusCode, resp.Headers["Content-Type"])
	}
	keys := make([]string, 0, len(resp.Headers))
	for k := range resp.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if got, want := strings.Join(keys, ","), "Content-Type"; got != want {
		t.Errorf("headers: got %s, want %s", got, want)
	}
}

func FuzzHTTPEvent(f *testing.F) {
	for _, name := range []string{"http-captured.json", "http-multivalue.json", "http-base64.json"} {
		f.Add(mustRead(f, name))
	}
	f.Add([]byte(`{"requestContext":{"http":{"method":"GET"}},"rawPath":"%zz"}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		var ev events.HTTPTriggerEvent
		if json.Unmarshal(payload, &ev) != nil {
			return
		}
		req, err := NewRequest(context.Background(), ev)
		if err != nil {
			if !errors.Is(err, ErrNotHTTPEvent) && !errors.Is(err, ErrMalformedEvent) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if req.URL.Host != "" || !strings.HasPrefix(req.URL.Path, "/") && req.URL.Path != "" {
			t.Fatalf("request escapes its origin: %q", req.URL)
		}
		body, _ := io.ReadAll(req.Body)
		if int64(len(body)) != req.ContentLength {
			t.Fatalf("ContentLength %d, body %d", req.ContentLength, len(body))
		}
		resp := Response(200, req.Header, body)
		dec := []byte(resp.Body)
		if resp.IsBase64Encoded {
			dec, _ = base64.StdEncoding.DecodeString(resp.Body)
		}
		if !bytes.Equal(dec, body) {
			t.Fatal("response body does not round-trip")
		}
	})
}
