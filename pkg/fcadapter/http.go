package fcadapter

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/aliyun/fc-runtime-go-sdk/events"
)

// HeaderRequestID is the request header carrying the FC request id into the
// wrapped http.Handler (and the response header FC itself sets).
const HeaderRequestID = "X-Fc-Request-Id"

// HTTPOptions configure HTTPHandler. The zero value is usable.
type HTTPOptions struct {
	// Logger receives adapter errors (malformed events); nil discards.
	Logger *slog.Logger
}

// HTTPFunc is the handler shape HTTPHandler returns; fc.Start accepts it.
type HTTPFunc func(ctx context.Context, ev events.HTTPTriggerEvent) (*events.HTTPTriggerResponse, error)

// HTTPHandler adapts h to the FC3 HTTP trigger
// (https://help.aliyun.com/zh/functioncompute/fc-3-0/user-guide/http-trigger-invoking-function): the
// event becomes an *http.Request (see NewRequest) and what h writes becomes
// the trigger response (see Response). A payload that is not an HTTP
// trigger event (for example an API invocation with another event) is
// rejected with an error wrapping ErrNotHTTPEvent, so FC reports a function
// error instead of h seeing an empty request.
//
// Pattern (cf. aws-lambda-go lambdaurl.Wrap):
//
//	fc.Start(fcadapter.HTTPHandler(mux, nil))
func HTTPHandler(h http.Handler, opts *HTTPOptions) HTTPFunc {
	var logger *slog.Logger
	if opts != nil {
		logger = opts.Logger
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context, ev events.HTTPTriggerEvent) (*events.HTTPTriggerResponse, error) {
		ctx = WithInvocation(ctx)
		req, err := NewRequest(ctx, ev)
		if err != nil {
			logger.ErrorContext(ctx, "fcadapter: rejecting event", slog.Any("error", err))
			return nil, err
		}
		rec := newRecorder()
		h.ServeHTTP(rec, req)
		resp := rec.response()
		return &resp, nil
	}
}

// NewRequest maps an FC3 HTTP trigger event to an *http.Request carrying ctx.
//
//   - Method from requestContext.http.method (required: without it the event
//     is not an HTTP event).
//   - Path from rawPath (URL-encoded, as received) else requestContext.http.path.
//   - Headers in any case are canonicalised; FC joins repeated headers and
//     query parameters with commas, and each joined value stays one value
//     (equivalent for list-valued headers, RFC 9110 §5.3).
//   - Body base64-decoded when isBase64Encoded.
//   - RemoteAddr from requestContext.http.sourceIp, Host from the Host header
//     or requestContext.domainName.
//   - The FC request id (from ctx, else requestContext.requestId) is set as
//     the X-Fc-Request-Id header, and the invocation is in the context.
func NewRequest(ctx context.Context, ev events.HTTPTriggerEvent) (*http.Request, error) {
	hc := ev.TriggerContext.Http
	method := deref(hc.Method)
	if method == "" {
		return nil, fmt.Errorf("%w: requestContext.http.method is missing", ErrNotHTTPEvent)
	}
	if !validMethod(method) {
		return nil, fmt.Errorf("%w: bad method %q", ErrMalformedEvent, method)
	}
	u, err := eventURL(ev)
	if err != nil {
		return nil, err
	}
	body, err := eventBody(ev)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, "/", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedEvent, err)
	}
	req.URL = u // not re-parsed: a path like "//host/x" must stay a path
	req.RequestURI = u.RequestURI()
	req.ContentLength = int64(len(body))
	if len(body) == 0 {
		req.Body = http.NoBody
	}
	if p := deref(hc.Protocol); p != "" {
		if major, minor, ok := http.ParseHTTPVersion(p); ok {
			req.Proto, req.ProtoMajor, req.ProtoMinor = p, major, minor
		}
	}

	req.Header = eventHeader(ev)
	if host := req.Header.Get("Host"); host != "" {
		req.Host = host
		req.Header.Del("Host")
	} else if dn := deref(ev.TriggerContext.DomainName); dn != "" {
		req.Host = dn
	}
	if req.Header.Get("User-Agent") == "" && deref(hc.UserAgent) != "" {
		req.Header.Set("User-Agent", *hc.UserAgent)
	}
	if ip := deref(hc.SourceIp); ip != "" {
		req.RemoteAddr = net.JoinHostPort(ip, "0")
	}
	id := RequestID(ctx)
	if id == "" {
		id = deref(ev.TriggerContext.RequestId)
	}
	if id != "" {
		req.Header.Set(HeaderRequestID, id)
	} else {
		req.Header.Del(HeaderRequestID) // never trust a caller-sent id
	}
	return req, nil
}

// eventURL is the request URL of ev: rawPath (URL-encoded, as received)
// else requestContext.http.path, and the query parameters.
func eventURL(ev events.HTTPTriggerEvent) (*url.URL, error) {
	path := cmp.Or(deref(ev.RawPath), deref(ev.TriggerContext.Http.Path), "/")
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u, err := url.ParseRequestURI(path)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return nil, fmt.Errorf("%w: bad path %q", ErrMalformedEvent, path)
	}
	if ev.QueryParameters != nil && len(*ev.QueryParameters) > 0 {
		q := make(url.Values, len(*ev.QueryParameters))
		for k, v := range *ev.QueryParameters {
			q.Set(k, v)
		}
		u.RawQuery = q.Encode()
	}
	return u, nil
}

// eventBody is the body of ev, base64-decoded when isBase64Encoded.
func eventBody(ev events.HTTPTriggerEvent) ([]byte, error) {
	b := deref(ev.Body)
	if b == "" || ev.IsBase64Encoded == nil || !*ev.IsBase64Encoded {
		return []byte(b), nil
	}
	body, err := base64.StdEncoding.DecodeString(b)
	if err != nil {
		return nil, fmt.Errorf("%w: body is not valid base64: %v", ErrMalformedEvent, err)
	}
	return body, nil
}

// eventHeader is the headers of ev, canonicalised; a key that is not a
// valid header name is dropped.
func eventHeader(ev events.HTTPTriggerEvent) http.Header {
	h := make(http.Header)
	if ev.Headers == nil {
		return h
	}
	keys := make([]string, 0, len(*ev.Headers))
	for k := range *ev.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic order when two keys differ only in case
	for _, k := range keys {
		ck := http.CanonicalHeaderKey(k)
		if ck == "" || strings.ContainsAny(ck, " \t\r\n:") {
			continue
		}
		h.Add(ck, (*ev.Headers)[k])
	}
	return h
}

// validMethod reports whether m is an HTTP token (RFC 9110 §9.1).
func validMethod(m string) bool {
	for i := 0; i < len(m); i++ {
		c := m[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return m != ""
}

// recorder is the http.ResponseWriter handed to the wrapped handler.
type recorder struct {
	header      http.Header
	body        bytes.Buffer
	status      int
	wroteHeader bool
}

func newRecorder() *recorder { return &recorder{header: make(http.Header)} }

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.wroteHeader || code < 100 || code > 999 {
		return
	}
	if code < 200 { // informational responses are not relayed
		return
	}
	r.status, r.wroteHeader = code, true
}

func (r *recorder) Write(p []byte) (int, error) {
	if !r.wroteHeader {
		r.WriteHeader(http.StatusOK)
	}
	return r.body.Write(p)
}

// Flush implements http.Flusher (a no-op: the response is sent whole).
func (r *recorder) Flush() {}

func (r *recorder) response() events.HTTPTriggerResponse {
	status := r.status
	if status == 0 {
		status = http.StatusOK
	}
	if r.header.Get("Content-Type") == "" && r.body.Len() > 0 {
		r.header.Set("Content-Type", http.DetectContentType(r.body.Bytes()))
	}
	return Response(status, r.header, r.body.Bytes())
}

// Response builds the FC3 HTTP trigger response: headers always a non-nil
// map (repeated headers joined with ", "), body base64 with isBase64Encoded
// when it is not valid UTF-8 or its Content-Type / Content-Encoding says
// binary.
func Response(status int, header http.Header, body []byte) events.HTTPTriggerResponse {
	resp := events.HTTPTriggerResponse{StatusCode: status, Headers: make(map[string]string, len(header))}
	for k, v := range header {
		if len(v) > 0 {
			resp.Headers[k] = strings.Join(v, ", ")
		}
	}
	if IsBinary(header.Get("Content-Type"), header.Get("Content-Encoding"), body) {
		resp.Body = base64.StdEncoding.EncodeToString(body)
		resp.IsBase64Encoded = true
	} else {
		resp.Body = string(body)
	}
	return resp
}

// IsBinary reports whether a body must travel base64-encoded in an FC HTTP
// event or response: it is not valid UTF-8, it is content-encoded (gzip…),
// or its media type is not textual.
func IsBinary(contentType, contentEncoding string, body []byte) bool {
	if len(body) == 0 {
		return false
	}
	if !utf8.Valid(body) {
		return true
	}
	if ce := strings.TrimSpace(strings.ToLower(contentEncoding)); ce != "" && ce != "identity" {
		return true
	}
	if contentType == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"),
		strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"),
		mt == "application/json", mt == "application/xml", mt == "application/javascript",
		mt == "application/x-www-form-urlencoded", mt == "application/x-ndjson",
		mt == "application/yaml", mt == "application/graphql":
		return false
	case strings.HasPrefix(mt, "image/"), strings.HasPrefix(mt, "audio/"),
		strings.HasPrefix(mt, "video/"), strings.HasPrefix(mt, "font/"),
		mt == "application/octet-stream", mt == "application/zip", mt == "application/gzip",
		mt == "application/pdf", mt == "application/protobuf", mt == "application/x-protobuf",
		mt == "multipart/form-data":
		return true
	}
	return false
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
