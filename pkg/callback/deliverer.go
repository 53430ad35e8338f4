package callback

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ensnodepool/webhook/pkg/callbackurl"
	"github.com/ensnodepool/webhook/pkg/logattr"
)

// Outcome classifies one delivery attempt.
type Outcome string

// Outcomes of an attempt.
const (
	// Delivered: the receiver answered 2xx.
	Delivered Outcome = "delivered"
	// Retry: a transient failure (network error, timeout, 3xx, 4xx other than 410, 5xx).
	Retry Outcome = "retry"
	// Gone: the receiver answered 410 Gone; stop sending to this URL.
	Gone Outcome = "gone"
	// Refused: the SSRF policy refused the URL or its address; nothing was
	// sent. Permanent, like Gone, but our decision rather than the receiver's.
	Refused Outcome = "refused"
)

// Permanent reports whether no further attempt should be made.
func (o Outcome) Permanent() bool { return o != Retry }

// Attempt records one delivery attempt. It is JSON-serialisable and travels
// in Delivery inside queue messages.
type Attempt struct {
	// At is when the attempt started (injected clock).
	At time.Time
	// Duration is how long it took (injected clock).
	Duration time.Duration `json:",omitempty"`
	// Status is the HTTP status, 0 when no response was received.
	Status int `json:",omitempty"`
	// Error is a short, log-safe description of a failure.
	Error string `json:",omitempty"`
	// RetryAfter is the receiver's Retry-After, clamped to the Deliverer's bounds.
	RetryAfter time.Duration `json:",omitempty"`
	// Outcome classifies the attempt.
	Outcome Outcome
}

// Version is the default product version in the User-Agent.
const Version = "dev"

// UserAgentPrefix starts the User-Agent of every callback.
const UserAgentPrefix = "ens-nodepool-webhook/"

// Config configures a Deliverer. Zero values take the defaults in withDefaults.
type Config struct {
	// Secrets are the "whsec_" signing secrets; at least one. Several sign
	// every request at once (rotation).
	Secrets []string
	// Callers, when not nil, are the callers (CALLERS) by Id, and every
	// delivery must name one of them (Delivery.Caller): its policy applies
	// to each attempt as it is made, whoever queued the delivery (the
	// worker, the poller, a redrive). A delivery naming no caller or an
	// unknown one (removed from CALLERS, or never in it) is refused:
	// nothing is sent or signed. Nil is simple mode: every delivery is
	// signed with Secrets, and one naming a caller is refused.
	Callers map[string]CallerPolicy
	// Version goes into the User-Agent "ens-nodepool-webhook/<Version>"; default Version.
	Version string
	// Timeout bounds one attempt, connect to last response byte; default 15 s.
	Timeout time.Duration
	// MaxResponseBytes is how much of a response body is read (and
	// discarded); default 4 KiB.
	MaxResponseBytes int64
	// MinRetryAfter and MaxRetryAfter clamp a receiver's Retry-After;
	// defaults 1 s and 1 h.
	MinRetryAfter, MaxRetryAfter time.Duration
	// Allow lists prefixes exempt from the SSRF deny list (for internal
	// portals, and for loopback in local mode). Empty by default.
	Allow []netip.Prefix
	// AllowHTTP permits http:// URLs; only for local mode. Default: https only.
	AllowHTTP bool
	// Retry is the retry policy used by Try and DeliverAll; default
	// DefaultSchedule with DefaultJitter.
	Retry Policy
	// Resolver resolves callback hosts; default net.DefaultResolver.
	Resolver Resolver
	// Dial makes connections to addresses the guard has checked (always an
	// IP literal and port); default a net.Dialer that checks the socket
	// address again in its Control hook. Tests stub it.
	Dial DialFunc
	// TLSConfig is cloned for https; default TLS 1.2+ with system roots.
	TLSConfig *tls.Config
	// MaxConnsPerHost bounds connections per receiver host; default 16.
	MaxConnsPerHost int
	// Renderers format deliveries whose Delivery.Format names them (chat
	// platforms) instead of the signed Standard Webhooks JSON; a Delivery
	// without Format always gets the default. A Format with no Renderer is
	// refused. Nil by default.
	Renderers map[string]Renderer
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives debug logs of attempts (never secrets or URLs with
	// credentials); nil discards.
	Logger *slog.Logger
}

// CallerPolicy is what the callback sender applies to one caller's
// deliveries (CALLERS).
type CallerPolicy struct {
	// Secrets sign the caller's events instead of Config.Secrets, and only
	// they (CALLERS CallbackSecret); empty: Config.Secrets.
	Secrets []string
	// AllowURL reports whether the caller's Standard Webhooks events may
	// go to a URL (CALLERS CallbackHosts, caller.Caller.AllowsCallback);
	// nil allows every URL the SSRF policy allows. Chat deliveries
	// (Delivery.Format) go only to their platforms' hosts (the renderers'
	// rule) and are not asked.
	AllowURL func(rawURL string) bool
}

func (c Config) withDefaults() Config {
	c.Version = cmp.Or(c.Version, Version)
	c.Timeout = cmp.Or(c.Timeout, 15*time.Second)
	c.MaxResponseBytes = cmp.Or(c.MaxResponseBytes, 4<<10)
	c.MinRetryAfter = cmp.Or(c.MinRetryAfter, time.Second)
	c.MaxRetryAfter = cmp.Or(c.MaxRetryAfter, time.Hour)
	c.MaxConnsPerHost = cmp.Or(c.MaxConnsPerHost, 16)
	if c.Resolver == nil {
		c.Resolver = net.DefaultResolver
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Timeout < 0:
		return fmt.Errorf("%w: Timeout must not be negative", ErrConfig)
	case c.MaxResponseBytes < 0:
		return fmt.Errorf("%w: MaxResponseBytes must not be negative", ErrConfig)
	case c.MinRetryAfter < 0 || c.MaxRetryAfter < c.MinRetryAfter:
		return fmt.Errorf("%w: need 0 <= MinRetryAfter <= MaxRetryAfter", ErrConfig)
	case strings.ContainsAny(c.Version, " \r\n\t"):
		return fmt.Errorf("%w: Version must be one token", ErrConfig)
	}
	for i, p := range c.Allow {
		if !p.IsValid() {
			return fmt.Errorf("%w: Allow[%d] is not a valid prefix", ErrConfig, i)
		}
	}
	return nil
}

// Deliverer delivers callbacks. It is safe for concurrent use.
type Deliverer struct {
	cfg     Config
	signer  *Signer
	signers map[string]*Signer // by caller Id, for callers with their own Secrets
	guard   *guard
	client  *http.Client
	ua      string
}

// NewDeliverer returns a Deliverer for cfg.
func NewDeliverer(cfg Config) (*Deliverer, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	signer, err := NewSigner(cfg.Secrets...)
	if err != nil {
		return nil, err
	}
	for name, r := range cfg.Renderers {
		if name == "" || r == nil {
			return nil, fmt.Errorf("%w: Renderers: empty format name or nil Renderer", ErrConfig)
		}
	}
	signers := map[string]*Signer{}
	for id, p := range cfg.Callers {
		if len(p.Secrets) == 0 {
			continue
		}
		cs, err := NewSigner(p.Secrets...)
		if err != nil {
			return nil, fmt.Errorf("Callers[%q].Secrets: %w", id, err) // the error never holds the secret
		}
		signers[id] = cs
	}
	client, g := newClient(cfg)
	return &Deliverer{cfg: cfg, signer: signer, signers: signers, guard: g, client: client, ua: UserAgentPrefix + cfg.Version}, nil
}

// newClient builds the guarded client: every dial resolves and checks the
// address (SSRF policy), no proxy, no redirects.
func newClient(cfg Config) (*http.Client, *guard) {
	g := &guard{allow: cfg.Allow, allowHTTP: cfg.AllowHTTP, resolver: cfg.Resolver, dial: cfg.Dial}
	if g.dial == nil {
		d := &net.Dialer{Timeout: cfg.Timeout, Control: g.control}
		g.dial = d.DialContext
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLSConfig != nil {
		tlsCfg = cfg.TLSConfig.Clone()
	}
	tr := &http.Transport{
		Proxy:                 nil, // never an environment proxy: it would bypass the dial-time guard
		DialContext:           g.dialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   cfg.Timeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   cfg.MaxConnsPerHost,
		MaxConnsPerHost:       cfg.MaxConnsPerHost,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: cfg.Timeout,
	}
	client := &http.Client{
		Transport: tr,
		// A 3xx is a failed attempt (Standard Webhooks): never follow it,
		// which also keeps a redirect from reaching a refused address.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return client, g
}

// NewClient returns an http.Client under the same SSRF policy as a Deliverer
// built from cfg (Allow, AllowHTTP, Resolver, Dial, TLSConfig, Timeout): it
// checks every dialed address, uses no proxy and follows no redirect.
// Secrets and Renderers are ignored. Chat integrations use it for calls
// that are not callbacks, such as fetching an access token or posting an
// acknowledgement.
func NewClient(cfg Config) (*http.Client, error) {
	cfg.Renderers = nil
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c, _ := newClient(cfg)
	return c, nil
}

// Client returns the Deliverer's guarded http.Client (see NewClient).
func (s *Deliverer) Client() *http.Client { return s.client }

// Close releases idle connections.
func (s *Deliverer) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

// Deliver makes one attempt to POST ev to rawURL as message msgID, signed
// with a fresh timestamp, and classifies the result. It never returns an
// error: failures are Attempts with Outcome Retry, Gone or Refused.
func (s *Deliverer) Deliver(ctx context.Context, rawURL, msgID string, ev Event) Attempt {
	return s.attempt(ctx, target{url: rawURL}, msgID, ev)
}

// attempt makes one timed, logged attempt to t.
func (s *Deliverer) attempt(ctx context.Context, t target, msgID string, ev Event) Attempt {
	start := s.cfg.Now()
	a := s.deliverAs(ctx, t, msgID, ev, start)
	a.At = start
	a.Duration = s.cfg.Now().Sub(start)
	// An event sent is a state change of its request (INFO); each failed
	// attempt is a WARN, whatever comes of the delivery.
	level, msg := slog.LevelInfo, "callback: event sent"
	if a.Outcome != Delivered {
		level, msg = slog.LevelWarn, "callback: attempt failed"
	}
	s.cfg.Logger.LogAttrs(ctx, level, msg,
		slog.String(logattr.KeyRequestID, ev.Data.RequestId), slog.String(logattr.KeyClusterID, ev.Data.ClusterId),
		slog.String(logattr.KeyName, ev.Data.Name), slog.String(logattr.KeyNodepoolID, ev.Data.NodepoolId),
		slog.String(logattr.KeyWebhookID, msgID), slog.String("type", ev.Type), slog.String("format", t.format),
		slog.String("outcome", string(a.Outcome)), slog.Int("status", a.Status),
		slog.String(logattr.KeyError, a.Error), logattr.Duration("duration", a.Duration))
	return a
}

// target is where and how one delivery goes.
type target struct {
	url       string
	format    string
	expiresAt time.Time
	caller    string // signs with this caller's secret when it has one
}

func (s *Deliverer) deliverAs(ctx context.Context, t target, msgID string, ev Event, now time.Time) Attempt {
	u, err := s.guard.parseURL(t.url)
	if err != nil {
		return Attempt{Outcome: Refused, Error: err.Error()}
	}
	if msgID == "" || strings.ContainsAny(msgID, ". \r\n") {
		return Attempt{Outcome: Refused, Error: "invalid webhook-id"}
	}
	if !t.expiresAt.IsZero() && !now.Before(t.expiresAt) {
		return Attempt{Outcome: Gone, Error: "destination expired at " + t.expiresAt.UTC().Format(time.RFC3339)}
	}
	if reason := s.refuseCaller(t); reason != "" {
		return Attempt{Outcome: Refused, Error: reason}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	var (
		body []byte
		h    http.Header
		r    Renderer
	)
	if t.format == "" {
		if body, err = ev.Body(); err != nil {
			return Attempt{Outcome: Refused, Error: "encode event: " + err.Error()}
		}
		signer := s.signer
		if cs, ok := s.signers[t.caller]; ok {
			signer = cs
		}
		if h, err = signer.Headers(msgID, now, body); err != nil {
			return Attempt{Outcome: Retry, Error: "sign: " + err.Error()}
		}
	} else {
		if r = s.cfg.Renderers[t.format]; r == nil {
			return Attempt{Outcome: Refused, Error: "no renderer for format " + strconv.Quote(truncate(t.format, 32))}
		}
		if body, h, err = r.Render(ctx, s.client, u, ev); err != nil {
			if errors.Is(err, callbackurl.ErrRefused) {
				return Attempt{Outcome: Refused, Error: truncate(err.Error(), 200)}
			}
			return Attempt{Outcome: Retry, Error: truncate("render: "+err.Error(), 200)}
		}
		if h == nil {
			h = http.Header{}
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return Attempt{Outcome: Refused, Error: "malformed URL"}
	}
	req.Header = h
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", s.ua)

	resp, err := s.client.Do(req)
	if err != nil {
		return s.transportFailure(ctx, err)
	}
	// Read a little of the body (a renderer may judge it; otherwise it only
	// lets the connection be reused), then discard it.
	respBody, _ := io.ReadAll(io.LimitReader(resp.Body, s.cfg.MaxResponseBytes))
	_ = resp.Body.Close()
	return s.judge(resp, respBody, r, now)
}

// refuseCaller says why t may not be sent for its caller ("" when it may):
// with Config.Callers, a delivery names a known caller whose policy allows
// its URL; without, it names none. The text never quotes the caller (a
// tracking or dead-letter record may carry anything).
func (s *Deliverer) refuseCaller(t target) string {
	if s.cfg.Callers == nil {
		if t.caller != "" {
			return "the delivery names a caller, and CALLERS is not set: not signed with the shared secret"
		}
		return ""
	}
	if t.caller == "" {
		return "the delivery names no caller, and CALLERS is set: nothing is signed for no one"
	}
	p, ok := s.cfg.Callers[t.caller]
	switch {
	case !ok:
		return "the delivery's caller is not in CALLERS (removed?): not signed with any other secret"
	case t.format == "" && p.AllowURL != nil && !p.AllowURL(t.url):
		return "the URL's host and port are outside the caller's CallbackHosts"
	}
	return ""
}

// judge classifies a receiver's answer: 2xx delivered (unless the chat
// renderer r finds an error in the body), 410 gone, anything else retried
// after Retry-After if the receiver sent one.
func (s *Deliverer) judge(resp *http.Response, respBody []byte, r Renderer, now time.Time) Attempt {
	a := Attempt{Status: resp.StatusCode}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		a.Outcome = Delivered
		if r != nil {
			if err := r.Check(resp.StatusCode, respBody); err != nil {
				a.Outcome, a.Error = Retry, truncate(err.Error(), 200)
				if errors.Is(err, ErrGone) {
					a.Outcome = Gone
				}
			}
		}
	case resp.StatusCode == http.StatusGone:
		a.Outcome = Gone
		a.Error = "410 Gone: receiver asked to stop"
	default:
		a.Outcome = Retry
		a.Error = "HTTP " + strconv.Itoa(resp.StatusCode)
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			a.Error += " redirect not followed"
		}
		if r != nil {
			if err := r.Check(resp.StatusCode, respBody); errors.Is(err, ErrGone) {
				a.Outcome, a.Error = Gone, truncate(err.Error(), 200)
				return a
			}
		}
		a.RetryAfter = s.retryAfter(resp.Header.Get("Retry-After"), now)
	}
	return a
}

// transportFailure turns a client error into an Attempt with a short text
// that never includes the URL.
func (s *Deliverer) transportFailure(ctx context.Context, err error) Attempt {
	var ref *callbackurl.RefusedError
	if errors.As(err, &ref) {
		return Attempt{Outcome: Refused, Error: ref.Error()}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return Attempt{Outcome: Retry, Error: "timeout after " + s.cfg.Timeout.String()}
	}
	if errors.Is(err, context.Canceled) {
		return Attempt{Outcome: Retry, Error: "canceled"}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return Attempt{Outcome: Retry, Error: "timeout"}
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return Attempt{Outcome: Retry, Error: "dns: " + dnsErr.Err}
	}
	// Strip url.Error's "Post \"<url>\": " prefix.
	msg := err.Error()
	var inner interface{ Unwrap() error }
	if errors.As(err, &inner) && inner.Unwrap() != nil {
		msg = inner.Unwrap().Error()
	}
	return Attempt{Outcome: Retry, Error: truncate(msg, 200)}
}

// retryAfter parses Retry-After (delay-seconds or HTTP-date, RFC 9110
// §10.2.3) relative to now and clamps it to [MinRetryAfter, MaxRetryAfter].
// An absent or unparseable header yields 0 (use the schedule alone).
func (s *Deliverer) retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0
		}
		d = time.Duration(min(n, int64(s.cfg.MaxRetryAfter/time.Second)+1)) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0
	}
	return min(max(d, s.cfg.MinRetryAfter), s.cfg.MaxRetryAfter)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
