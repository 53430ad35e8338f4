// Package intake is the webhook's HTTP front door: a plain http.Handler
// that authenticates a Standard Webhooks v1 signed request, decodes the
// node-pool request (pkg/nodepool) and admits it (pkg/admission: the
// request rules, the caller's policy, a reused key, a versioned envelope
// with the password sealed on the requests queue), and answers 202 only
// after the queue acknowledged. It also serves the live status of a pool
// and a health check. It knows nothing of Function Compute (it only logs
// with pkg/fcadapter's key vocabulary); an adapter maps FC HTTP trigger
// events to it.
//
// Routes:
//
//	POST /v1/nodepools                               signed; 202 | 400 401 403 413 415 422 503
//	POST /v1/nodepools?dryRun=true                   signed; 200 | 400 401 403 413 415 422 503
//	GET  /v1/clusters/{ClusterId}/nodepools/{Name}   signed (over the path); 200 | 400 401 403 404 503
//	GET  /healthz                                    200
//
// Every error is application/problem+json (RFC 9457) with a "code"
// member; a 400 lists each failing field ("errors":[{"field","message"}]),
// a 403 the caller's rule ("rule") and the field it refused.
//
// With Config.Callers, the secret a request's signature verifies with
// identifies its caller (pkg/caller), whose policy the request must keep;
// every decision is an audit record.
//
// A dry run (dryRun=true) is admitted as far as admission.DryRun goes —
// the request rules, the caller's policy, a reused key — and then judged
// as the worker would judge it against the pools ENS describes now
// (Config.Pools): 200 with the outcome, create, adopt or conflict with
// each differing field; 422 cluster_not_found for a cluster ENS does not
// know. Nothing is queued, remembered or created.
//
// A GET's signature covers the request path in place of the empty body
// (Standard Webhooks signs "id.timestamp.body"; here body is the path as
// sent, e.g. "/v1/clusters/eck-1/nodepools/p1"), so a signed status read
// cannot be replayed for another pool.
package intake

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ensnodepool/webhook/pkg/admission"
	"github.com/ensnodepool/webhook/pkg/caller"
	"github.com/ensnodepool/webhook/pkg/ens"
	"github.com/ensnodepool/webhook/pkg/httpjson"
	"github.com/ensnodepool/webhook/pkg/logattr"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// Config configures a Handler. Zero values take the defaults in
// withDefaults.
type Config struct {
	// Secrets are the Standard Webhooks secrets ("whsec_<base64>"); a
	// signature by any of them is accepted (rotation). Simple mode: at
	// least one, unless Callers is set (then none).
	Secrets []string
	// Callers, when set, replaces Secrets: each caller's Secrets identify
	// it and its policy applies (pkg/caller). Nil is simple mode.
	Callers *caller.Set
	// Tolerance is the accepted clock skew of webhook-timestamp; default 5m.
	Tolerance time.Duration
	// MaxBody is the body size limit in bytes; default 64 KiB (MNS's
	// message size limit).
	MaxBody int64
	// Sealer seals passwords for the queue. Required.
	Sealer *nodepool.Sealer
	// Validator applies the request rules; default
	// nodepool.NewValidator(nodepool.ValidationConfig{}).
	Validator *nodepool.Validator
	// Queue is the requests queue. Required.
	Queue nodepool.Sender
	// Keys remembers what each RequestId stands for (pkg/admission); give
	// the front doors of one instance the same. Default: the Handler's own
	// memory.
	Keys admission.Keys
	// Pools reads live node pools for the status endpoint. Required.
	Pools nodepool.PoolReader
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives JSON-friendly structured logs; nil discards.
	Logger *slog.Logger
	// StatusURLBase prefixes StatusUrl and Location, e.g.
	// "https://hooks.example.com"; default "" gives a root-relative URL.
	StatusURLBase string
	// Source is the envelope Source; default nodepool.SourceWebhook.
	Source string
	// RetryAfter is sent with 503 answers; default 5s (whole seconds).
	RetryAfter time.Duration
	// SendTimeout bounds Queue.Send (which runs even if the caller hangs
	// up, so an acknowledged message is never reported as failed because
	// of the caller); default 10s.
	SendTimeout time.Duration
	// StatusTimeout bounds Pools.DescribeClusterNodePools; default 10s.
	StatusTimeout time.Duration
	// PublicStatus serves the status endpoint without a signature. Off by
	// default: a status reveals the pool's image, network and instance
	// types.
	PublicStatus bool
}

func (c Config) withDefaults() Config {
	c.Tolerance = cmp.Or(c.Tolerance, 5*time.Minute)
	c.MaxBody = cmp.Or(c.MaxBody, 64<<10)
	if c.Validator == nil {
		c.Validator = nodepool.NewValidator(nodepool.ValidationConfig{})
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.StatusURLBase = strings.TrimRight(c.StatusURLBase, "/")
	c.Source = cmp.Or(c.Source, nodepool.SourceWebhook)
	c.RetryAfter = cmp.Or(c.RetryAfter, 5*time.Second)
	c.SendTimeout = cmp.Or(c.SendTimeout, 10*time.Second)
	c.StatusTimeout = cmp.Or(c.StatusTimeout, 10*time.Second)
	return c
}

func (c Config) validate() error {
	switch {
	case len(c.Secrets) == 0 && c.Callers == nil:
		return errors.New("intake: Config.Secrets: at least one whsec_ secret is required")
	case len(c.Secrets) > 0 && c.Callers != nil:
		return errors.New("intake: Config.Secrets and Config.Callers are exclusive")
	case c.Tolerance < 0:
		return errors.New("intake: Config.Tolerance must not be negative")
	case c.MaxBody < 0:
		return errors.New("intake: Config.MaxBody must not be negative")
	case c.Sealer == nil:
		return errors.New("intake: Config.Sealer is required")
	case c.Queue == nil:
		return errors.New("intake: Config.Queue is required")
	case c.Pools == nil:
		return errors.New("intake: Config.Pools is required")
	case c.RetryAfter < time.Second:
		return errors.New("intake: Config.RetryAfter must be at least 1s")
	}
	if c.StatusURLBase != "" {
		u, err := url.Parse(c.StatusURLBase)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return errors.New("intake: Config.StatusURLBase must be an absolute URL")
		}
	}
	return nil
}

// Handler is the webhook http.Handler. Safe for concurrent use.
type Handler struct {
	cfg       Config
	verify    *verifier
	admission *admission.Admission
	callers   []*caller.Caller // owner index → caller; nil in simple mode
	mux       *http.ServeMux
	bufs      sync.Pool // *bytes.Buffer for bodies
}

// New builds a Handler.
func New(cfg Config) (*Handler, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	v, err := newVerifier(cfg.Secrets, cfg.Tolerance, cfg.Now)
	if err != nil {
		return nil, fmt.Errorf("intake: Config.%w", err) // never echoes the secret
	}
	adm, err := admission.New(admission.Config{Validator: cfg.Validator, Queue: cfg.Queue, Sealer: cfg.Sealer, Keys: cfg.Keys,
		Pools: cfg.Pools, DescribeTimeout: cfg.StatusTimeout, SendTimeout: cfg.SendTimeout, Now: cfg.Now, Logger: cfg.Logger, LogPrefix: "intake"})
	if err != nil {
		return nil, err
	}
	h := &Handler{cfg: cfg, verify: v, admission: adm, mux: http.NewServeMux()}
	if cfg.Callers != nil {
		h.callers = cfg.Callers.Callers()
		for i, c := range h.callers {
			for j, s := range c.Secrets {
				if err := v.add(s, i); err != nil {
					return nil, fmt.Errorf("intake: Config.Callers[%d].Secrets[%d]: %w", i, j, err)
				}
			}
		}
		if len(v.keys) == 0 {
			return nil, errors.New("intake: Config.Callers: no caller has Secrets, so nobody could call")
		}
	}
	h.bufs.New = func() any { return new(bytes.Buffer) }
	h.mux.HandleFunc("POST /v1/nodepools", h.create)
	h.mux.HandleFunc("GET /v1/clusters/{ClusterId}/nodepools/{Name}", h.status)
	h.mux.HandleFunc("GET /healthz", h.health)
	h.mux.HandleFunc("/v1/nodepools", h.methodNotAllowed("POST"))
	h.mux.HandleFunc("/v1/clusters/{ClusterId}/nodepools/{Name}", h.methodNotAllowed("GET, HEAD"))
	h.mux.HandleFunc("/healthz", h.methodNotAllowed("GET, HEAD"))
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, &Error{Code: CodeNotFound, Message: "no such route"}, "")
	})
	return h, nil
}

// ServeHTTP implements http.Handler and writes one access log line.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.cfg.Now()
	sw := &statusWriter{ResponseWriter: w}
	h.mux.ServeHTTP(sw, r)
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("route", r.Pattern),
		slog.Int("status", sw.status),
		logattr.Duration("duration", h.cfg.Now().Sub(start)),
	}
	if sw.requestID != "" {
		attrs = append(attrs, slog.String(logattr.KeyRequestID, sw.requestID))
	}
	level := slog.LevelInfo
	if sw.status >= 500 {
		level = slog.LevelWarn
	}
	h.cfg.Logger.LogAttrs(r.Context(), level, "intake: request", attrs...)
}

// accepted is the 202 body.
type accepted struct {
	RequestId string `json:"RequestId"`
	ClusterId string `json:"ClusterId"`
	Name      string `json:"Name"`
	State     string `json:"State"`
	StatusUrl string `json:"StatusUrl"`
}

// create handles POST /v1/nodepools in five phases: read the body,
// authenticate its caller, derive its RequestId from its key, admit it
// (pkg/admission: validate, policy, key reuse, queue, audit) and answer;
// with dryRun=true the last two are a dry run (dryRun).
func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	buf := h.bufs.Get().(*bytes.Buffer)
	defer h.release(buf)
	body, err := h.read(r, buf)
	if err != nil {
		h.fail(w, r, err, "")
		return
	}
	s, err := h.authenticate(r, body)
	if err != nil {
		h.fail(w, r, err, "")
		return
	}
	dry, err := dryRunParam(r)
	if err == nil {
		s.requestID, err = h.key(r, s)
	}
	if err != nil {
		h.fail(w, r, err, "")
		return
	}
	setRequestID(w, s.requestID)
	if dry {
		h.dryRun(w, r, s, body)
		return
	}
	req, err := h.admit(r, s, body)
	if err != nil {
		h.fail(w, r, err, s.requestID)
		return
	}
	h.answer(w, s.requestID, req)
}

// sender is who sent a create: what authenticate and key establish.
type sender struct {
	webhookID string         // the webhook-id the signature covers
	who       *caller.Caller // nil in simple mode
	requestID string
}

// read reads the body, at most MaxBody bytes, into buf.
func (h *Handler) read(r *http.Request, buf *bytes.Buffer) ([]byte, error) {
	buf.Reset()
	if r.ContentLength > h.cfg.MaxBody {
		return nil, h.tooLarge()
	}
	if _, err := buf.ReadFrom(io.LimitReader(r.Body, h.cfg.MaxBody+1)); err != nil {
		return nil, &Error{Code: CodeInvalid, Message: "the request body could not be read", Err: err}
	}
	if int64(buf.Len()) > h.cfg.MaxBody {
		return nil, h.tooLarge()
	}
	return buf.Bytes(), nil
}

// release returns a body buffer to the pool, unless a large body grew it.
func (h *Handler) release(buf *bytes.Buffer) {
	if buf.Cap() <= 2*int(h.cfg.MaxBody) {
		h.bufs.Put(buf)
	}
}

// authenticate verifies the signature, which names the caller (audited
// when it fails), and the media type.
func (h *Handler) authenticate(r *http.Request, body []byte) (sender, error) {
	webhookID, owner, err := h.verify.verify(r.Header, body)
	if err != nil {
		h.audit(r, caller.Record{Action: caller.ActionCreate, Decision: caller.DecisionDenied, Reason: "signature: " + err.Error()})
		return sender{}, unauthorized(err)
	}
	if err := checkJSON(r.Header.Get("Content-Type")); err != nil {
		return sender{}, err
	}
	return sender{webhookID: webhookID, who: h.caller(owner)}, nil
}

// key derives the RequestId from the Idempotency-Key, else the
// webhook-id. Keys are per caller: the same key from two callers names two
// requests, and one caller's key says nothing about another's.
func (h *Handler) key(r *http.Request, s sender) (string, error) {
	idemKey := r.Header.Get("Idempotency-Key")
	if len(idemKey) > 255 || !printableOrSpace(idemKey) {
		return "", &Error{Code: CodeInvalid, Message: "the request is invalid",
			Fields: []nodepool.FieldError{{Field: "Idempotency-Key", Message: "must be at most 255 printable ASCII characters"}}}
	}
	key, msgKey := idemKey, s.webhookID
	if s.who != nil {
		if key != "" {
			key = "caller:" + s.who.Id + ":" + key
		}
		msgKey = "caller:" + s.who.Id + ":" + msgKey
	}
	return nodepool.RequestID(key, msgKey), nil
}

// admit decodes the body and hands it to the admission, which queues it
// or refuses it (an *admission.Error). The same key with another body is
// refused here only when this instance accepted the first one; the worker
// checks again (docs/api.md, "Idempotency keys", says what each can see).
func (h *Handler) admit(r *http.Request, s sender, body []byte) (*nodepool.Request, error) {
	req, err := nodepool.Decode(body)
	_, err = h.admission.Admit(r.Context(), admission.Request{
		Request: req, Err: err, RequestID: s.requestID, Caller: s.who,
		Source: h.cfg.Source, Channel: caller.SourceAPI, ReceivedAt: h.cfg.Now(),
		LogAttrs: []slog.Attr{slog.String(logattr.KeyWebhookID, s.webhookID)},
	})
	return req, err
}

// answer writes the 202 of an accepted request.
func (h *Handler) answer(w http.ResponseWriter, requestID string, req *nodepool.Request) {
	statusURL := h.statusURL(req.ClusterId, req.NodepoolInfo.Name)
	w.Header().Set("Location", statusURL)
	httpjson.Write(w, http.StatusAccepted, accepted{
		RequestId: requestID,
		ClusterId: req.ClusterId,
		Name:      req.NodepoolInfo.Name,
		State:     "accepted",
		StatusUrl: statusURL,
	})
}

// status handles GET /v1/clusters/{ClusterId}/nodepools/{Name}.
func (h *Handler) status(w http.ResponseWriter, r *http.Request) {
	clusterID, name := r.PathValue("ClusterId"), r.PathValue("Name")
	rec := caller.Record{Action: caller.ActionStatus, ClusterId: clusterID, Name: name}
	var who *caller.Caller
	if !h.cfg.PublicStatus {
		// The signed content is the path as sent, so this signature
		// authorizes this read only.
		_, owner, err := h.verify.verify(r.Header, []byte(r.URL.EscapedPath()))
		if err != nil {
			rec.Decision, rec.Reason = caller.DecisionDenied, "signature: "+err.Error()
			h.audit(r, rec)
			h.fail(w, r, unauthorized(err), "")
			return
		}
		who = h.caller(owner)
		rec.Caller = h.callerID(who)
	}
	if err := h.cfg.Validator.ValidatePoolKey(clusterID, name); err != nil {
		h.fail(w, r, err, "")
		return
	}
	if who != nil && !who.MayUseCluster(clusterID) {
		err := &caller.DeniedError{Caller: who.Id, Rule: "Clusters", Field: "ClusterId", Message: "not a cluster this caller may read"}
		rec.Decision, rec.Reason = caller.DecisionDenied, err.Error()
		h.audit(r, rec)
		h.fail(w, r, err, "")
		return
	}
	if !h.cfg.PublicStatus {
		rec.Decision = caller.DecisionAccepted
		h.audit(r, rec)
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.StatusTimeout)
	pools, err := h.cfg.Pools.DescribeClusterNodePools(ctx, clusterID)
	cancel()
	switch {
	case errors.Is(err, ens.ErrNotFound):
		h.fail(w, r, &Error{Code: CodeNotFound, Message: "cluster not found", Err: err}, "")
		return
	case err != nil:
		h.fail(w, r, &Error{Code: CodeUnavailable, Message: "the node pool status is unavailable, retry later", Err: err}, "")
		return
	}
	for _, p := range pools {
		if p.NodepoolInfo.Name == name {
			httpjson.Write(w, http.StatusOK, nodepool.MaskPool(p))
			return
		}
	}
	h.fail(w, r, &Error{Code: CodeNotFound, Message: "node pool not found"}, "")
}

// caller returns the caller of verifier owner i; nil in simple mode.
func (h *Handler) caller(i int) *caller.Caller {
	if h.callers == nil {
		return nil
	}
	return h.callers[i]
}

// callerID names c in audit records.
func (h *Handler) callerID(c *caller.Caller) string {
	if c == nil {
		return caller.SimpleCaller
	}
	return c.Id
}

// audit writes one audit record of the API.
func (h *Handler) audit(r *http.Request, rec caller.Record) {
	rec.Source = caller.SourceAPI
	caller.Audit(r.Context(), h.cfg.Logger, rec)
}

// health handles GET /healthz.
func (h *Handler) health(w http.ResponseWriter, _ *http.Request) {
	httpjson.Write(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (h *Handler) methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		h.fail(w, r, &Error{Code: CodeMethodNotAllowed, Message: "use " + allow}, "")
	}
}

func (h *Handler) tooLarge() error {
	return &Error{Code: CodeTooLarge, Message: fmt.Sprintf("the body exceeds %d bytes", h.cfg.MaxBody)}
}

// unauthorized hides which check failed from the caller; the reason is
// logged.
func unauthorized(reason error) error {
	return &Error{Code: CodeUnauthorized, Message: "missing or invalid webhook signature", Err: reason}
}

// fail writes err as a problem and logs causes worth a look (never bodies,
// secrets, signatures or passwords: only codes and internal reasons).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error, requestID string) {
	code := ErrorCode(err)
	switch code {
	case CodeInternal, CodeUnavailable:
		h.cfg.Logger.LogAttrs(r.Context(), slog.LevelError, "intake: failed",
			slog.String("code", string(code)), slog.String(logattr.KeyRequestID, requestID), logattr.Error(err))
	case CodeUnauthorized:
		reason := "unknown"
		if cause := errors.Unwrap(err); cause != nil {
			reason = cause.Error()
		}
		h.cfg.Logger.LogAttrs(r.Context(), slog.LevelInfo, "intake: rejected signature", slog.String("reason", reason))
	}
	h.writeProblem(w, err, requestID)
}

func (h *Handler) statusURL(clusterID, name string) string {
	return h.cfg.StatusURLBase + "/v1/clusters/" + url.PathEscape(clusterID) + "/nodepools/" + url.PathEscape(name)
}

// checkJSON accepts application/json and application/*+json, charset
// utf-8 if any.
func checkJSON(ct string) error {
	bad := &Error{Code: CodeUnsupportedMedia, Message: "the body must be application/json"}
	if ct == "" {
		return bad
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return bad
	}
	if mt != "application/json" && !(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return bad
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return bad
	}
	return nil
}

func printableOrSpace(s string) bool {
	for i := range len(s) {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// statusWriter records the status and RequestId for the access log.
type statusWriter struct {
	http.ResponseWriter
	status    int
	requestID string
}

// WriteHeader records the first status.
func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200.
func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func setRequestID(w http.ResponseWriter, id string) {
	if sw, ok := w.(*statusWriter); ok {
		sw.requestID = id
	}
}
