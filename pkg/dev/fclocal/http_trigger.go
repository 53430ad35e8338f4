package fclocal

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// HTTPTriggerConfig configures NewHTTPTrigger.
type HTTPTriggerConfig struct {
	// Function to invoke (required).
	Function string
	// Invoker runs the function (required); usually the *Runtime.
	Invoker Invoker
	// TriggerName is requestContext.triggerId's prefix; default "httpTrigger".
	TriggerName string
	// AccountID is requestContext.accountId; default "1234567890123456".
	AccountID string
	// MaxBodyBytes caps request bodies (413 beyond); default 32 MiB, the FC
	// synchronous invocation limit.
	MaxBodyBytes int64
	// Logger receives invocation failures; nil discards.
	Logger *slog.Logger
	// Now is the clock for requestContext.time; default time.Now.
	Now func() time.Time
}

// HTTPTrigger returns an http.Handler that invokes function fn like an FC3
// HTTP trigger with anonymous auth (see NewHTTPTrigger). It panics if fn is
// not hosted, a programming error.
func (rt *Runtime) HTTPTrigger(fn string) http.Handler {
	if _, ok := rt.fns[fn]; !ok {
		panic(fmt.Sprintf("fclocal: HTTPTrigger: unknown function %q", fn))
	}
	h, err := NewHTTPTrigger(HTTPTriggerConfig{Function: fn, Invoker: rt, AccountID: rt.cfg.AccountID,
		MaxBodyBytes: rt.cfg.MaxPayload, Logger: rt.log, Now: rt.cfg.Now})
	if err != nil {
		panic(err)
	}
	return h
}

// NewHTTPTrigger returns an http.Handler that maps each request to the FC3
// HTTP trigger event (as FC3 builds it,
// https://help.aliyun.com/zh/functioncompute/fc-3-0/user-guide/http-trigger-invoking-function: repeated headers and query
// parameters joined with commas, body base64 when binary, rawPath escaped,
// requestContext.http.{method,path,protocol,sourceIp,userAgent}), invokes
// the function and writes back the HTTPTriggerResponse it returns
// ({statusCode, headers, body, isBase64Encoded}). A result that is not such
// an object is sent as a 200 with the raw payload. The response carries
// X-Fc-Request-Id. Failures map to: function error 502 with
// X-Fc-Error-Type: UnhandledInvocationError and the error JSON as body,
// timeout 504, runtime closed 503.
func NewHTTPTrigger(cfg HTTPTriggerConfig) (http.Handler, error) {
	if cfg.Function == "" || cfg.Invoker == nil {
		return nil, fmt.Errorf("%w: HTTPTriggerConfig needs Function and Invoker", ErrConfig)
	}
	cfg.TriggerName = cmp.Or(cfg.TriggerName, "httpTrigger")
	cfg.AccountID = cmp.Or(cfg.AccountID, "1234567890123456")
	cfg.MaxBodyBytes = cmp.Or(cfg.MaxBodyBytes, 32<<20)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &httpTrigger{cfg: cfg, triggerID: NewRequestID()}, nil
}

type httpTrigger struct {
	cfg       HTTPTriggerConfig
	triggerID string
}

// HTTPEvent is the FC3 HTTP trigger event as FC sends it (a superset of
// events.HTTPTriggerEvent: it also has requestContext.triggerId).
type HTTPEvent struct {
	Version         string            `json:"version"`
	RawPath         string            `json:"rawPath"`
	Headers         map[string]string `json:"headers"`
	QueryParameters map[string]string `json:"queryParameters"`
	Body            string            `json:"body"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
	RequestContext  HTTPEventContext  `json:"requestContext"`
}

// HTTPEventContext is the event's requestContext.
type HTTPEventContext struct {
	AccountID    string          `json:"accountId"`
	TriggerID    string          `json:"triggerId,omitempty"`
	DomainName   string          `json:"domainName"`
	DomainPrefix string          `json:"domainPrefix"`
	RequestID    string          `json:"requestId"`
	Time         string          `json:"time"`
	TimeEpoch    string          `json:"timeEpoch"`
	HTTP         HTTPEventDetail `json:"http"`
}

// HTTPEventDetail is requestContext.http.
type HTTPEventDetail struct {
	Method    string `json:"method"`
	Path      string `json:"path"`
	Protocol  string `json:"protocol"`
	SourceIP  string `json:"sourceIp"`
	UserAgent string `json:"userAgent"`
}

// httpResponse is the HTTPTriggerResponse read back from the function.
type httpResponse struct {
	StatusCode      int               `json:"statusCode"`
	Headers         map[string]string `json:"headers"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
	Body            string            `json:"body"`
}

// NewHTTPEvent builds the FC3 HTTP trigger event for r with the given body.
func NewHTTPEvent(r *http.Request, body []byte, requestID, accountID string, now time.Time) HTTPEvent {
	ev := HTTPEvent{
		Version:         "v1",
		RawPath:         r.URL.EscapedPath(),
		Headers:         make(map[string]string, len(r.Header)+1),
		QueryParameters: map[string]string{},
		RequestContext: HTTPEventContext{
			AccountID:  accountID,
			DomainName: r.Host,
			RequestID:  requestID,
			Time:       now.UTC().Format(time.RFC3339),
			TimeEpoch:  strconv.FormatInt(now.UnixMilli(), 10),
			HTTP: HTTPEventDetail{
				Method:    r.Method,
				Path:      r.URL.Path,
				Protocol:  r.Proto,
				UserAgent: r.UserAgent(),
			},
		},
	}
	if host, _, err := net.SplitHostPort(r.Host); err == nil {
		ev.RequestContext.DomainPrefix, _, _ = strings.Cut(host, ".")
	} else {
		ev.RequestContext.DomainPrefix, _, _ = strings.Cut(r.Host, ".")
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		ev.RequestContext.HTTP.SourceIP = ip
	} else {
		ev.RequestContext.HTTP.SourceIP = r.RemoteAddr
	}
	for k, v := range r.Header {
		ev.Headers[k] = strings.Join(v, ",")
	}
	if r.Host != "" {
		ev.Headers["Host"] = r.Host
	}
	for k, v := range r.URL.Query() {
		ev.QueryParameters[k] = strings.Join(v, ",")
	}
	if isBinary(r.Header.Get("Content-Encoding"), body) {
		ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
	} else {
		ev.Body = string(body)
	}
	return ev
}

func (t *httpTrigger) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, t.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read request body", http.StatusBadRequest)
		return
	}
	id := NewRequestID()
	ev := NewHTTPEvent(r, body, id, t.cfg.AccountID, t.cfg.Now())
	ev.RequestContext.TriggerID = t.triggerID
	payload, err := json.Marshal(ev)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("X-Fc-Request-Id", id)
	res, err := t.cfg.Invoker.Do(r.Context(), Request{Function: t.cfg.Function, Payload: payload, RequestID: id})
	if err != nil {
		t.fail(w, r, id, err)
		return
	}
	var resp httpResponse
	if json.Unmarshal(res.Payload, &resp) != nil || resp.StatusCode == 0 {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(res.Payload)
		return
	}
	out := []byte(resp.Body)
	if resp.IsBase64Encoded {
		if out, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			t.fail(w, r, id, &FunctionError{Function: t.cfg.Function, RequestID: id, Type: "InvalidResponse",
				Message: "body is not valid base64: " + err.Error()})
			return
		}
	}
	keys := make([]string, 0, len(resp.Headers))
	for k := range resp.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if http.CanonicalHeaderKey(k) == "Content-Length" {
			continue
		}
		w.Header().Set(k, resp.Headers[k])
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	if resp.StatusCode < 100 || resp.StatusCode > 999 {
		resp.StatusCode = http.StatusBadGateway
	}
	w.WriteHeader(resp.StatusCode)
	if r.Method != http.MethodHead {
		_, _ = w.Write(out)
	}
}

func (t *httpTrigger) fail(w http.ResponseWriter, r *http.Request, id string, err error) {
	t.cfg.Logger.WarnContext(r.Context(), "fclocal: HTTP trigger invocation failed",
		slog.String("function", t.cfg.Function), slog.String("requestId", id), slog.Any("error", err))
	status, typ := http.StatusBadGateway, "UnhandledInvocationError"
	body := map[string]any{"errorMessage": err.Error(), "errorType": typ}
	var fe *FunctionError
	switch {
	case errors.As(err, &fe):
		body["errorMessage"], body["errorType"] = fe.Message, fe.Type
	case errors.Is(err, ErrTimeout):
		status, body["errorType"] = http.StatusGatewayTimeout, "FunctionTimeout"
	case errors.Is(err, ErrClosed), errors.Is(err, ErrUnknownFunction):
		status = http.StatusServiceUnavailable
	case r.Context().Err() != nil:
		return // the client is gone
	}
	w.Header().Set("X-Fc-Error-Type", typ)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// isBinary decides the request body encoding: base64 when the body is not
// valid UTF-8, contains NUL, or is content-encoded (gzip…). Textual bodies
// stay plain whatever their Content-Type, as in the captured FC event
// (application/octet-stream, body "haha", isBase64Encoded false).
func isBinary(contentEncoding string, body []byte) bool {
	if len(body) == 0 {
		return false
	}
	if !utf8.Valid(body) || bytes.IndexByte(body, 0) >= 0 {
		return true
	}
	ce := strings.ToLower(strings.TrimSpace(contentEncoding))
	return ce != "" && ce != "identity"
}
