// Package mns is the product's client for Alibaba Cloud MNS queues, built on
// github.com/aliyun/aliyun-mns-go-sdk v1.0.11. It adds what the SDK lacks: context-first
// methods, errors mapped to a few sentinel codes (ErrEmpty, ErrNotFound, ErrStaleReceipt,
// ErrThrottled, ErrUnavailable, ...) matched with errors.Is, per-invocation STS credentials,
// batching beyond the 16-entry limit, a client-side dead-letter policy that behaves the same on
// real MNS and on the local service (pkg/dev/mnssim), and local endpoints such as
// http://127.0.0.1:9100.
//
// # Local endpoints
//
// The SDK panics unless the endpoint looks like https://<uid>.mns.<region>.aliyuncs.com
// (the SDK parses the account id out of the host name). For any other endpoint, New gives the SDK a placeholder
// endpoint (http://1000000000.mns.local.aliyuncs.com) and installs a fasthttp transport that
// sends every request to the configured host and port instead; the request path and signature
// are unchanged. Real endpoints use the same transport pointed at the real host, so every copy
// made by WithCredentials shares one connection pool.
//
// # Retries
//
// Every send of a queue (Send, SendBatch, and the move of a message to its dead-letter queue)
// retries a failure that may pass — the service restarting or throttling, see Retryable — with
// backoff for up to Config.SendRetry (default 8 s), never past the context's deadline. The
// retry belongs to the queue type, as in go-cloud's pubsub, so no caller opts in and none can
// forget. A batch that MNS answered entry by entry is not repeated (ErrPartial): the entries it
// took would be sent twice. Receives, deletes and visibility changes are not retried: their
// callers decide (a missed receive is the next poll, a missed delete a redelivery).
//
// # Context
//
// The SDK has no context support. Methods check ctx before sending; Receive caps its long poll at
// ctx's deadline and returns ctx.Err() when ctx ends during the poll (messages the abandoned poll
// receives become visible again after the queue's visibility timeout). Other requests are
// bounded by Config.Timeout.
package mns

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"strings"
	"time"

	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"
	"github.com/valyala/fasthttp"

	"github.com/ensnodepool/webhook/pkg/clock"
)

// Credentials is an AccessKey pair, optionally with an STS security token.
type Credentials struct {
	AccessKeyID, AccessKeySecret, SecurityToken string
}

// Config configures a Client.
type Config struct {
	// Endpoint is the MNS endpoint, e.g. "https://<uid>.mns.cn-hangzhou.aliyuncs.com" or a local
	// service such as "http://127.0.0.1:9100". Required.
	Endpoint string
	// Credentials sign every request. AccessKeyID and AccessKeySecret are required.
	Credentials Credentials
	// Timeout bounds one HTTP request. It must exceed the longest long poll (30 s); default 35 s.
	Timeout time.Duration
	// SendRetry is how long every send of the client's queues (Send, SendBatch, and the move of
	// a message to its dead-letter queue) that failed for a reason that may pass (Retryable: the
	// service restarting, throttling) is repeated, with backoff, before its error is returned —
	// never past the context's deadline. A brief MNS outage then costs seconds instead of a
	// visibility timeout, and no caller has to remember to retry. Default 8 s; negative: one
	// attempt.
	SendRetry time.Duration
	// Clock measures SendRetry and waits between its attempts; default the wall clock.
	Clock clock.Clock
	// Logger receives diagnostics (dead-letter moves); nil discards them.
	Logger *slog.Logger
}

// DefaultSendRetry is Config.SendRetry's default.
const DefaultSendRetry = 8 * time.Second

// MaxWait is the longest long poll MNS allows.
const MaxWait = 30 * time.Second

// MaxBatch is the most entries MNS accepts in one batch request.
const MaxBatch = 16

// placeholderEndpoint satisfies the SDK's endpoint parser for non-MNS hosts.
const placeholderEndpoint = "http://1000000000.mns.local.aliyuncs.com"

func (c Config) withDefaults() Config {
	c.Timeout = cmp.Or(c.Timeout, 35*time.Second)
	c.SendRetry = cmp.Or(c.SendRetry, DefaultSendRetry)
	c.Clock = c.Clock.WithDefaults()
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	if c.Endpoint == "" {
		return fmt.Errorf("%w: Config.Endpoint is required", ErrConfig)
	}
	if c.Credentials.AccessKeyID == "" || c.Credentials.AccessKeySecret == "" {
		return fmt.Errorf("%w: Config.Credentials.AccessKeyID and AccessKeySecret are required", ErrConfig)
	}
	if c.Timeout <= MaxWait {
		return fmt.Errorf("%w: Config.Timeout %v must exceed the longest long poll %v", ErrConfig, c.Timeout, MaxWait)
	}
	return nil
}

// Client is an MNS client. It is safe for concurrent use.
type Client struct {
	cfg       Config
	sdkURL    string // endpoint given to the SDK
	transport *redirect
	send      retry // every send's retry policy (Config.SendRetry)
	mns       ali_mns.MNSClient
	manager   ali_mns.AliQueueManager
	err       error // set when WithCredentials got unusable credentials; every call returns it
}

// redirect is a fasthttp.RoundTripper that sends every request to one host client, whatever the
// request's Host header says.
type redirect struct{ hc *fasthttp.HostClient }

// RoundTrip implements fasthttp.RoundTripper. It never asks the caller to retry.
func (r *redirect) RoundTrip(_ *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) (bool, error) {
	return false, r.hc.Do(req, resp)
}

// New validates cfg and returns a Client. It sends no request.
func New(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || strings.Contains(u.Host, "@") ||
		strings.Trim(u.Path, "/") != "" {
		// Never quoted: an endpoint with user info would print a secret.
		return nil, fmt.Errorf("%w: Config.Endpoint must be http(s)://host[:port] without user info or a path", ErrConfig)
	}
	tls := u.Scheme == "https"
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), map[bool]string{true: "443", false: "80"}[tls])
	}
	sdkURL := u.Scheme + "://" + u.Host
	if len(strings.Split(sdkURL, ".")) != 5 || net.ParseIP(u.Hostname()) != nil {
		sdkURL = placeholderEndpoint
	}
	hc := &fasthttp.HostClient{
		Addr:                addr,
		IsTLS:               tls,
		ReadTimeout:         cfg.Timeout,
		WriteTimeout:        cfg.Timeout,
		MaxConns:            512,
		MaxIdleConnDuration: 10 * time.Second,
		DialDualStack:       true,
		// Never re-send a request after a timeout or error: a re-sent receive would hide
		// messages. fasthttp still retries once when a kept-alive connection was closed (io.EOF).
		RetryIf: func(*fasthttp.Request) bool { return false },
	}
	c := &Client{cfg: cfg, sdkURL: sdkURL, transport: &redirect{hc: hc}, send: retry{window: cfg.SendRetry, clock: cfg.Clock}}
	if err := c.init(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Client) init() (err error) {
	defer func() { // the SDK panics on bad input; turn that into an error
		if r := recover(); r != nil {
			err = fmt.Errorf("mns: create MNS client: %v", r)
		}
	}()
	cr := c.cfg.Credentials
	c.mns = ali_mns.NewAliMNSClientWithConfig(ali_mns.AliMNSClientConfig{
		EndPoint:        c.sdkURL,
		AccessKeyId:     cr.AccessKeyID,
		AccessKeySecret: cr.AccessKeySecret,
		Token:           cr.SecurityToken,
		TimeoutSecond:   int64(math.Ceil(c.cfg.Timeout.Seconds())),
	})
	c.mns.SetTransport(c.transport)
	c.manager = ali_mns.NewMNSQueueManager(c.mns)
	return nil
}

// WithCredentials returns a copy of c that signs with cr (e.g. the STS token of one Function
// Compute invocation). The copy shares c's connection pool. If cr lacks the AccessKey pair,
// every call on the copy fails with ErrDenied.
func (c *Client) WithCredentials(cr Credentials) *Client {
	cp := &Client{cfg: c.cfg, sdkURL: c.sdkURL, transport: c.transport, send: c.send}
	cp.cfg.Credentials = cr
	if cr.AccessKeyID == "" || cr.AccessKeySecret == "" {
		cp.err = &Error{Op: "WithCredentials", Code: ErrDenied, Err: errors.New("AccessKeyID and AccessKeySecret are required")}
		return cp
	}
	if err := cp.init(); err != nil {
		cp.err = &Error{Op: "WithCredentials", Code: ErrDenied, Err: err}
	}
	return cp
}

// check returns the error a call must fail with before sending anything.
func (c *Client) check(ctx context.Context) error {
	if c.err != nil {
		return c.err
	}
	return ctx.Err()
}

// QueueAttributes are the settable attributes of a queue. Zero fields take MNS defaults.
type QueueAttributes struct {
	// Delay postpones every new message (0–7 days; the SDK caps it at 60480 s).
	Delay time.Duration
	// MaxMessageSize in bytes (1024–65536; default 65536).
	MaxMessageSize int
	// Retention is how long a message lives (60 s–15 days; default 4 days).
	Retention time.Duration
	// VisibilityTimeout is how long a received message stays invisible (1 s–12 h; default 30 s).
	VisibilityTimeout time.Duration
	// PollingWait is the long-poll wait used when a receive names none (0–30 s).
	PollingWait time.Duration
}

// Attributes describe an existing queue.
type Attributes struct {
	QueueAttributes
	// Name is the queue name.
	Name string
	// Active, Inactive and Delayed count messages that are visible, received and not yet visible.
	Active, Inactive, Delayed int64
	// CreateTime and LastModifyTime are as MNS reports them (second precision).
	CreateTime, LastModifyTime time.Time
}

func seconds(d time.Duration) int32 { return int32(math.Ceil(d.Seconds())) }

// EnsureQueue creates the queue if it does not exist. An existing queue is a success whether or
// not its attributes match a (MNS answers 409 for different attributes; the existing queue is
// kept as it is, with a warning logged).
func (c *Client) EnsureQueue(ctx context.Context, name string, a QueueAttributes) error {
	if err := c.check(ctx); err != nil {
		return err
	}
	opts := []ali_mns.QueueOption{
		ali_mns.WithDelaySeconds(seconds(a.Delay)),
		ali_mns.WithPollingWaitSeconds(seconds(a.PollingWait)),
	}
	if a.MaxMessageSize > 0 {
		opts = append(opts, ali_mns.WithMaxMessageSize(int32(a.MaxMessageSize)))
	}
	if a.Retention > 0 {
		opts = append(opts, ali_mns.WithMessageRetentionPeriod(seconds(a.Retention)))
	}
	if a.VisibilityTimeout > 0 {
		opts = append(opts, ali_mns.WithVisibilityTimeout(seconds(a.VisibilityTimeout)))
	}
	err := c.manager.CreateQueueWithOptions(name, opts...)
	if err == nil {
		return nil
	}
	code, mnsCode := classify(err)
	switch {
	case code == nil:
		return nil
	case mnsCode == "QueueAlreadyExist":
		c.cfg.Logger.WarnContext(ctx, "mns: queue exists with other attributes; keeping them", slog.String("queue", name))
		return nil
	}
	return &Error{Op: "EnsureQueue", Queue: name, Code: code, MNSCode: mnsCode, Err: err}
}

// SetQueueAttributes overwrites the queue's settable attributes with a: every field is sent,
// zero ones as zero (MNS validates the ranges; a zero Retention, VisibilityTimeout or
// MaxMessageSize is refused), so a is the whole wanted state, not a patch.
func (c *Client) SetQueueAttributes(ctx context.Context, name string, a QueueAttributes) error {
	if err := c.check(ctx); err != nil {
		return err
	}
	err := c.manager.SetQueueAttributesWithOptions(name,
		ali_mns.WithDelaySeconds(seconds(a.Delay)),
		ali_mns.WithMaxMessageSize(int32(a.MaxMessageSize)),
		ali_mns.WithMessageRetentionPeriod(seconds(a.Retention)),
		ali_mns.WithVisibilityTimeout(seconds(a.VisibilityTimeout)),
		ali_mns.WithPollingWaitSeconds(seconds(a.PollingWait)),
	)
	if err != nil {
		code, mnsCode := classify(err)
		if code == nil {
			return nil
		}
		return &Error{Op: "SetQueueAttributes", Queue: name, Code: code, MNSCode: mnsCode, Err: err}
	}
	return nil
}

// DeleteQueue deletes the queue and its messages. A missing queue is a success.
func (c *Client) DeleteQueue(ctx context.Context, name string) error {
	if err := c.check(ctx); err != nil {
		return err
	}
	if err := c.manager.DeleteQueue(name); err != nil {
		code, mnsCode := classify(err)
		if code == ErrNotFound {
			return nil
		}
		return &Error{Op: "DeleteQueue", Queue: name, Code: code, MNSCode: mnsCode, Err: err}
	}
	return nil
}

// DeadLetterPolicy makes Receive move a message to Queue (send there, then delete here) instead
// of returning it once it has been received more than MaxReceiveCount times — the behaviour of
// the MNS queue DlqPolicy, applied by the client so it works the same on any MNS endpoint.
type DeadLetterPolicy struct {
	// Queue is the dead-letter queue's name.
	Queue string
	// MaxReceiveCount is the number of receives a message may have; the next one dead-letters it.
	MaxReceiveCount int
}

// Option configures a Queue.
type Option func(*Queue)

// WithDeadLetter sets the queue's client-side dead-letter policy. A policy with an empty Queue
// or MaxReceiveCount < 1 is ignored.
func WithDeadLetter(p DeadLetterPolicy) Option {
	return func(q *Queue) {
		if p.Queue != "" && p.MaxReceiveCount >= 1 {
			q.dlq = &p
		}
	}
}

// Queue is a handle on one MNS queue. It is cheap, holds no connection of its own and is safe
// for concurrent use.
type Queue struct {
	c    *Client
	name string
	dlq  *DeadLetterPolicy
}

// Queue returns a handle on the named queue. It sends no request.
func (c *Client) Queue(name string, opts ...Option) *Queue {
	q := &Queue{c: c, name: name}
	for _, o := range opts {
		o(q)
	}
	return q
}

// Name returns the queue name.
func (q *Queue) Name() string { return q.name }

// sdk returns a fresh SDK queue. A fresh one per call keeps the SDK's QPS monitor, which is not
// safe for concurrent use and throttles at 2000 requests/s, out of the way.
func (q *Queue) sdk() ali_mns.AliMNSQueue {
	return ali_mns.NewMNSQueue(q.name, q.c.mns, math.MaxInt32)
}

func (q *Queue) fail(op string, err error) error {
	code, mnsCode := classify(err)
	if code == nil {
		return nil
	}
	return &Error{Op: op, Queue: q.name, Code: code, MNSCode: mnsCode, Err: err}
}
