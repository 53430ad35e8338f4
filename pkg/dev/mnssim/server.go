// Package mnssim is an MNS-compatible, durable queue service: an http.Handler that speaks the
// Alibaba Cloud MNS queue XML REST API (version 2015-06-06) closely enough that the official MNS
// SDKs cannot tell it from MNS (wire contract: http://mns.aliyuncs.com/doc/v1/ and
// https://www.alibabacloud.com/help/en/mns/developer-reference/receivemessage and its sibling pages).
//
// It serves CreateQueue, SetQueueAttributes, GetQueueAttributes, DeleteQueue, ListQueue,
// SendMessage, BatchSendMessage, ReceiveMessage, BatchReceiveMessage (long poll ≤ 30 s),
// PeekMessage, BatchPeekMessage, DeleteMessage, BatchDeleteMessage and ChangeMessageVisibility,
// verifies the MNS request signature, and implements visibility timeouts with redelivery,
// delays, retention, priorities, rotating receipt handles and a per-queue dead-letter policy.
//
// # Durability
//
// With Config.Dir set, state lives in a bbolt database (Dir/mns.db). Every change is committed
// before the response is written; concurrent requests share one commit (group commit). By default
// commits are not fsynced: a committed write is in the operating system's page cache, so it
// survives a crash or SIGKILL of this process but not a power failure or kernel crash. Set
// Config.Fsync for power-loss durability at the cost of one fsync per group commit. With Dir
// empty the service is purely in memory (for unit tests).
//
// Beside the MNS API, an unsigned inspection API under AdminPrefix (inspect.go) reports queue
// counts, peeks messages without changing them and purges queues; Inspector is its client.
//
// It is a development and test service, not a production queue.
package mnssim

import (
	"cmp"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Server. The zero value is not valid: the AccessKey pair is required.
type Config struct {
	// AccessKeyID and AccessKeySecret are the only key pair whose signatures are accepted.
	// Requests may also carry an STS security-token header; it is accepted but not checked.
	AccessKeyID, AccessKeySecret string
	// Dir is the data directory; "" keeps everything in memory.
	Dir string
	// Fsync makes every group commit fsync the database (power-loss durability). Without it a
	// committed write survives a process crash or SIGKILL, not a machine crash.
	Fsync bool
	// MaxClockSkew is how far a request's Date may be from Now; default 15 minutes, as MNS.
	MaxClockSkew time.Duration
	// MaxRequestBytes bounds a request body; default 2 MiB (16 messages of 64 KiB, escaped).
	MaxRequestBytes int64
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	c.MaxClockSkew = cmp.Or(c.MaxClockSkew, 15*time.Minute)
	c.MaxRequestBytes = cmp.Or(c.MaxRequestBytes, 2<<20)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	if c.AccessKeyID == "" || c.AccessKeySecret == "" {
		return errors.New("mnssim: Config.AccessKeyID and Config.AccessKeySecret are required")
	}
	if c.MaxClockSkew < 0 || c.MaxRequestBytes < 0 {
		return errors.New("mnssim: Config.MaxClockSkew and Config.MaxRequestBytes must not be negative")
	}
	return nil
}

// Server is the MNS-compatible queue service. It implements http.Handler and is safe for
// concurrent use. Close it to release the database.
type Server struct {
	cfg    Config
	st     *store
	mu     sync.RWMutex // guards queues; lock order: mu, then queue.mu
	qs     map[string]*queue
	stop   chan struct{} // closed by CancelPolls
	once   sync.Once
	reqID  atomic.Uint64
	boot   uint32
	faults faults
}

// New opens (or creates) the store under cfg.Dir and returns a ready Server.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	st, qs, err := openStore(cfg.Dir, cfg.Fsync)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, st: st, qs: qs, stop: make(chan struct{}), boot: rand.Uint32()}
	cfg.Logger.Info("mnssim: opened", slog.String("dir", cfg.Dir), slog.Int("queues", len(qs)))
	return s, nil
}

// CancelPolls makes every waiting long poll answer now (MessageNotExist) and later ones answer
// without waiting. Register it with http.Server.RegisterOnShutdown so shutdown is not held up
// by polls of up to 30 s.
func (s *Server) CancelPolls() { s.once.Do(func() { close(s.stop) }) }

// Close cancels long polls and closes the store. Requests after Close fail with InternalError.
func (s *Server) Close() error {
	s.CancelPolls()
	return s.st.close()
}

func (s *Server) nowMs() int64 { return s.cfg.Now().UnixMilli() }

// ServeHTTP serves the MNS queue API. The endpoint may carry one leading path segment that
// contains a dot (e.g. http://127.0.0.1:9100/123.mns.cn-hangzhou.aliyuncs.com), which is
// stripped before routing and signature checks (the SDK needs a real-looking host name).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if isAdmin(r) { // the inspection API (inspect.go), never the MNS API
		s.serveAdmin(w, r)
		return
	}
	reqID := fmt.Sprintf("%08X%016X", s.boot, s.reqID.Add(1))
	rw := &responder{w: w, reqID: reqID, host: "http://" + r.Host}
	uri := r.RequestURI
	if uri == "" || !strings.HasPrefix(uri, "/") {
		uri = r.URL.RequestURI()
	}
	path, rawQuery, _ := strings.Cut(uri, "?")
	prefix := ""
	if seg, _, _ := strings.Cut(path[1:], "/"); strings.Contains(seg, ".") {
		prefix = "/" + seg
		path = path[len(prefix):]
		uri = uri[len(prefix):]
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxRequestBytes))
	if err != nil {
		rw.error(invalidArg("The request body is too large or could not be read."))
		return
	}
	if e := s.authenticate(r, uri, body); e != nil {
		s.cfg.Logger.Debug("mnssim: rejected request", slog.String("code", e.Code), slog.String("uri", uri))
		rw.error(e)
		return
	}
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		rw.error(newErr(http.StatusBadRequest, "InvalidQueryString", "The query string is invalid."))
		return
	}
	req := &request{r: r, body: body, query: query, prefix: prefix}
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	switch {
	case len(segs) == 1 && segs[0] == "queues":
		if r.Method != http.MethodGet {
			rw.error(errMethod)
			return
		}
		s.listQueues(rw, req)
	case len(segs) == 2 && segs[0] == "queues":
		s.queueOp(rw, req, segs[1])
	case len(segs) == 3 && segs[0] == "queues" && segs[2] == "messages":
		s.messageOp(rw, req, segs[1])
	default:
		rw.error(errRequestURL)
	}
}

type request struct {
	r      *http.Request
	body   []byte
	query  url.Values
	prefix string
}

// param looks a query parameter up case-insensitively (SDKs differ in spelling).
func (q *request) param(name string) (string, bool) {
	for k, v := range q.query {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0], true
		}
	}
	return "", false
}

type responder struct {
	w     http.ResponseWriter
	reqID string
	host  string
}

func (rw *responder) header(status int, hasBody bool) {
	h := rw.w.Header()
	h.Set("x-mns-request-id", rw.reqID)
	h.Set("x-mns-version", "2015-06-06")
	h.Set("Server", "MNS")
	if hasBody {
		h.Set("Content-Type", "text/xml;charset=utf-8")
	}
	rw.w.WriteHeader(status)
}

func (rw *responder) xml(status int, v any) {
	b := marshal(v)
	rw.w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	rw.header(status, true)
	_, _ = rw.w.Write(b)
}

func (rw *responder) empty(status int) {
	rw.w.Header().Set("Content-Length", "0")
	rw.header(status, false)
}

func (rw *responder) error(e *apiError) {
	rw.xml(e.Status, errorXML{Xmlns: xmlns, Code: e.Code, Message: e.Message, RequestID: rw.reqID, HostID: rw.host})
}

func (s *Server) internal(rw *responder, err error) {
	s.cfg.Logger.Error("mnssim: store failure", slog.String("err", err.Error()))
	rw.error(errInternal)
}

func asAPI(err error) *apiError {
	var e *apiError
	if errors.As(err, &e) {
		return e
	}
	return errMalformedXML
}

// bodyMD5 is the MessageBodyMD5 MNS reports: upper-case hex MD5 of the body bytes.
func bodyMD5(body string) string {
	sum := md5.Sum([]byte(body))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

var _ http.Handler = (*Server)(nil)
