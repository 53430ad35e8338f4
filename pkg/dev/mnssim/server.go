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
// It is a development and test service, not a production queue.
package mnssim

import (
	"cmp"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"sort"
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
	cfg   Config
	st    *store
	mu    sync.RWMutex // guards queues; lock order: mu, then queue.mu
	qs    map[string]*queue
	stop  chan struct{} // closed by CancelPolls
	once  sync.Once
	reqID atomic.Uint64
	boot  uint32
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
// stripped before routing and signature checks (reference/mns.md §1.1).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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

// ---- authentication (reference/mns.md §2) ----

func (s *Server) authenticate(r *http.Request, resource string, body []byte) *apiError {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return errMissingAuth
	}
	cred, ok := strings.CutPrefix(auth, "MNS ")
	if !ok {
		return errInvalidAuth
	}
	ak, sig, ok := strings.Cut(strings.TrimSpace(cred), ":")
	if !ok || ak == "" || sig == "" {
		return errInvalidAuth
	}
	if r.Header.Get("x-mns-version") == "" {
		return errMissingVersion
	}
	date := r.Header.Get("Date")
	when := cmp.Or(r.Header.Get("x-mns-date"), date)
	if when == "" {
		return errMissingDate
	}
	t, err := http.ParseTime(when)
	if err != nil {
		return errInvalidDate
	}
	if skew := s.cfg.Now().Sub(t); skew > s.cfg.MaxClockSkew || skew < -s.cfg.MaxClockSkew {
		return errTimeExpired
	}
	if ak != s.cfg.AccessKeyID {
		return errInvalidAccessKey
	}
	want := Sign(s.cfg.AccessKeySecret, r.Method, r.Header, resource)
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return errSignature
	}
	if md := r.Header.Get("Content-MD5"); md != "" && !digestMatches(md, body) {
		return errInvalidDigest
	}
	return nil
}

// Sign computes the MNS request signature (base64 HMAC-SHA1) over the string to sign built from
// method, the Content-MD5, Content-Type and Date headers, the x-mns-* headers and resource — the
// request URI after the endpoint, with its query exactly as sent. See
// https://www.alibabacloud.com/help/doc-detail/27487.htm.
func Sign(secret, method string, h http.Header, resource string) string {
	var mns []string
	for k, v := range h {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-mns-") && len(v) > 0 {
			mns = append(mns, lk+":"+strings.TrimSpace(strings.Join(v, ",")))
		}
	}
	sort.Strings(mns)
	var b strings.Builder
	b.WriteString(method)
	b.WriteByte('\n')
	b.WriteString(h.Get("Content-MD5"))
	b.WriteByte('\n')
	b.WriteString(h.Get("Content-Type"))
	b.WriteByte('\n')
	b.WriteString(h.Get("Date"))
	b.WriteByte('\n')
	for _, l := range mns {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	b.WriteString(resource)
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// digestMatches accepts both Content-MD5 forms seen in MNS SDKs: base64 of the lower-case hex
// digest (Go, Python) and RFC 1864 base64 of the raw digest.
func digestMatches(header string, body []byte) bool {
	sum := md5.Sum(body)
	hexSum := hex.EncodeToString(sum[:])
	return header == base64.StdEncoding.EncodeToString([]byte(hexSum)) ||
		header == base64.StdEncoding.EncodeToString(sum[:]) ||
		strings.EqualFold(header, hexSum)
}

// ---- queues ----

var queueNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]*$`)

func checkQueueName(name string) *apiError {
	if len(name) == 0 || len(name) > 256 {
		return errQueueNameLength
	}
	if !queueNameRE.MatchString(name) {
		return errInvalidQueueName
	}
	return nil
}

func (s *Server) queueOp(rw *responder, req *request, name string) {
	if e := checkQueueName(name); e != nil {
		rw.error(e)
		return
	}
	switch req.r.Method {
	case http.MethodPut:
		if v, _ := req.param("metaoverride"); strings.EqualFold(v, "true") {
			s.setQueue(rw, req, name)
		} else {
			s.createQueue(rw, req, name)
		}
	case http.MethodGet:
		s.getQueue(rw, req, name)
	case http.MethodDelete:
		s.deleteQueue(rw, name)
	default:
		rw.error(errMethod)
	}
}

// applyQueueXML sets every element present in x on a, validating ranges (reference/mns.md §5).
func applyQueueXML(a *queueAttrs, x *queueReqXML, self string) *apiError {
	fields := []struct {
		v        *string
		dst      *int64
		name     string
		min, max int64
	}{
		{x.DelaySeconds, &a.DelaySeconds, "DelaySeconds", 0, 604800},
		{x.MaximumMessageSize, &a.MaximumMessageSize, "MaximumMessageSize", 1024, 65536},
		{x.MessageRetentionPeriod, &a.RetentionPeriod, "MessageRetentionPeriod", 60, 1296000},
		{x.VisibilityTimeout, &a.VisibilityTimeout, "VisibilityTimeout", 1, 43200},
		{x.PollingWaitSeconds, &a.PollingWaitSeconds, "PollingWaitSeconds", 0, 30},
	}
	for _, f := range fields {
		if f.v == nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(*f.v), 10, 64)
		if err != nil || n < f.min || n > f.max {
			return invalidArg(fmt.Sprintf("The value of %s should between %d and %d.", f.name, f.min, f.max))
		}
		*f.dst = n
	}
	if x.LoggingEnabled != nil {
		b, ok := parseBool(*x.LoggingEnabled)
		if !ok {
			return invalidArg("The value of LoggingEnabled should be True or False.")
		}
		a.LoggingEnabled = b
	}
	if p := x.DlqPolicy; p != nil {
		on, ok := parseBool(p.Enabled)
		if !ok {
			return invalidArg("The value of DlqPolicy.Enabled should be True or False.")
		}
		if !on {
			a.DeadLetter = nil
			return nil
		}
		if checkQueueName(p.DeadLetterTargetQueue) != nil || p.DeadLetterTargetQueue == self {
			return invalidArg("DlqPolicy.DeadLetterTargetQueue must name another queue.")
		}
		if p.MaxReceiveCount < 1 || p.MaxReceiveCount > 1000 {
			return invalidArg("The value of DlqPolicy.MaxReceiveCount should between 1 and 1000.")
		}
		a.DeadLetter = &DeadLetterPolicy{Enabled: true, TargetQueue: p.DeadLetterTargetQueue, MaxReceiveCount: p.MaxReceiveCount}
	}
	return nil
}

func (s *Server) createQueue(rw *responder, req *request, name string) {
	x, err := decodeQueue(req.body)
	if err != nil {
		rw.error(asAPI(err))
		return
	}
	attrs := defaultAttrs()
	if e := applyQueueXML(&attrs, x, name); e != nil {
		rw.error(e)
		return
	}
	s.mu.Lock()
	if q := s.qs[name]; q != nil {
		q.mu.Lock()
		same := q.meta.Attrs.equal(attrs)
		q.mu.Unlock()
		s.mu.Unlock()
		if same {
			rw.empty(http.StatusNoContent)
		} else {
			rw.error(errQueueExists)
		}
		return
	}
	now := s.nowMs()
	meta := queueMeta{Name: name, Gen: rand.Uint64() >> 1, Created: now, Modified: now, Attrs: attrs}
	s.qs[name] = newQueue(meta)
	p, err := s.st.submit(putQueueOp(meta))
	s.mu.Unlock()
	err = settled(p, err)
	if err != nil {
		s.internal(rw, err)
		return
	}
	rw.w.Header().Set("Location", queueURL(req, name))
	rw.empty(http.StatusCreated)
}

func (s *Server) setQueue(rw *responder, req *request, name string) {
	x, err := decodeQueue(req.body)
	if err != nil {
		rw.error(asAPI(err))
		return
	}
	s.mu.RLock()
	q := s.qs[name]
	if q == nil {
		s.mu.RUnlock()
		rw.error(errQueueNotExist)
		return
	}
	q.mu.Lock()
	attrs := q.meta.Attrs
	if e := applyQueueXML(&attrs, x, name); e != nil {
		q.mu.Unlock()
		s.mu.RUnlock()
		rw.error(e)
		return
	}
	q.meta.Attrs = attrs
	q.meta.Modified = s.nowMs()
	p, err := s.st.submit(putQueueOp(q.meta))
	q.wake()
	q.mu.Unlock()
	s.mu.RUnlock()
	err = settled(p, err)
	if err != nil {
		s.internal(rw, err)
		return
	}
	rw.empty(http.StatusNoContent)
}

func queueURL(req *request, name string) string {
	scheme := "http"
	if req.r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + req.r.Host + req.prefix + "/queues/" + name
}

// attrsXML reports q's attributes and message counts; it also drops expired messages.
func (s *Server) attrsXML(q *queue) (queueAttrsXML, []op) {
	now := s.nowMs()
	a := q.meta.Attrs
	x := queueAttrsXML{
		QueueName: q.meta.Name, CreateTime: q.meta.Created / 1000, LastModifyTime: q.meta.Modified / 1000,
		DelaySeconds: a.DelaySeconds, MaximumMessageSize: a.MaximumMessageSize, MessageRetentionPeriod: a.RetentionPeriod,
		VisibilityTimeout: a.VisibilityTimeout, PollingWaitSeconds: a.PollingWaitSeconds, LoggingEnabled: boolString(a.LoggingEnabled),
	}
	if p := a.DeadLetter; p != nil {
		x.DlqPolicy = &dlqPolicyXML{Enabled: "true", DeadLetterTargetQueue: p.TargetQueue, MaxReceiveCount: p.MaxReceiveCount}
	}
	var ops []op
	for _, m := range q.msgs {
		switch {
		case q.expired(m, now):
			q.remove(m)
			ops = append(ops, delMsgOp(q.meta.Name, m.Seq))
		case m.Visible <= now:
			x.ActiveMessages++
		case m.DequeueCount > 0:
			x.InactiveMessages++
		default:
			x.DelayMessages++
		}
	}
	return x, ops
}

func (s *Server) getQueue(rw *responder, req *request, name string) {
	s.mu.RLock()
	q := s.qs[name]
	s.mu.RUnlock()
	if q == nil {
		rw.error(errQueueNotExist)
		return
	}
	q.mu.Lock()
	if q.deleted {
		q.mu.Unlock()
		rw.error(errQueueNotExist)
		return
	}
	x, ops := s.attrsXML(q)
	p, err := s.st.submit(ops...)
	q.mu.Unlock()
	err = settled(p, err)
	if err != nil {
		s.internal(rw, err)
		return
	}
	x.Xmlns = xmlns
	rw.xml(http.StatusOK, x)
}

// deleteQueue drops the queue and its messages; a missing queue is a success, as MNS.
func (s *Server) deleteQueue(rw *responder, name string) {
	s.mu.Lock()
	q := s.qs[name]
	if q == nil {
		s.mu.Unlock()
		rw.empty(http.StatusNoContent)
		return
	}
	delete(s.qs, name)
	q.mu.Lock()
	q.deleted = true
	q.wake()
	p, err := s.st.submit(op{kind: opDelQueue, queue: name})
	q.mu.Unlock()
	s.mu.Unlock()
	err = settled(p, err)
	if err != nil {
		s.internal(rw, err)
		return
	}
	rw.empty(http.StatusNoContent)
}

func (s *Server) listQueues(rw *responder, req *request) {
	h := req.r.Header
	limit := 1000
	if v := h.Get("x-mns-ret-number"); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || n > 1000 {
			rw.error(invalidArg("The value of x-mns-ret-number should between 1 and 1000."))
			return
		}
		limit = n
	}
	prefix, marker := h.Get("x-mns-prefix"), h.Get("x-mns-marker")
	withMeta := strings.EqualFold(h.Get("x-mns-with-meta"), "true")
	s.mu.RLock()
	var names []string
	for _, n := range sortedNames(s.qs) {
		if strings.HasPrefix(n, prefix) && n >= marker {
			names = append(names, n)
		}
	}
	next := ""
	if len(names) > limit {
		next = names[limit]
		names = names[:limit]
	}
	var details []queueAttrsXML
	var urls []queueURLXML
	for _, n := range names {
		if withMeta {
			q := s.qs[n]
			q.mu.Lock()
			x, _ := s.attrsXML(q) // expired messages it drops are deleted on disk by the next write
			q.mu.Unlock()
			x.QueueURL = queueURL(req, n)
			details = append(details, x)
		} else {
			urls = append(urls, queueURLXML{QueueURL: queueURL(req, n)})
		}
	}
	s.mu.RUnlock()
	if withMeta {
		rw.xml(http.StatusOK, queueDetailsXML{Xmlns: xmlns, Queues: details, NextMarker: next})
		return
	}
	rw.xml(http.StatusOK, queuesXML{Xmlns: xmlns, Queues: urls, NextMarker: next})
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
