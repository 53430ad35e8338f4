package ens

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	sdk "github.com/alibabacloud-go/ens-20171110/v4/client"
	"github.com/alibabacloud-go/tea/dara"

	"github.com/ensnodepool/webhook/pkg/clock"
	"github.com/ensnodepool/webhook/pkg/logattr"
)

// APIVersion is the ENS API version every call uses.
const APIVersion = "2017-11-10"

// MaxPageSize is the largest PageSize the client asks for. The API's maximum
// is not documented; comparable ENS list APIs allow 50.
const MaxPageSize = 50

// Credentials is an AccessKey pair, with the SecurityToken of STS
// credentials (empty for long-term keys).
type Credentials struct {
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string
}

// Config configures a Client. Zero fields take the defaults of withDefaults.
type Config struct {
	// Endpoint is host[:port] without scheme; default "ens.aliyuncs.com"
	// (ENS has one central endpoint for all regions).
	Endpoint string
	// Protocol is "HTTPS" (default) or "HTTP" (local simulator).
	Protocol string
	// RegionID is passed to the SDK; ENS ignores it for endpoint selection.
	RegionID string
	// Credentials sign every call; WithCredentials replaces them.
	Credentials Credentials
	// ConnectTimeout bounds dialing (default 5s); ReadTimeout bounds each
	// whole HTTP exchange including the body (default 10s).
	ConnectTimeout, ReadTimeout time.Duration
	// WriteRate limits create/scale/delete/modify calls and DescribeRate
	// describe calls, per second, shared by all clients derived with
	// WithCredentials; defaults 10 and 100 (the documented per-account API
	// limits). Calls are paced evenly, and no sliding 1-second window of
	// server arrivals sees more than floor(rate) of them (see limiter).
	WriteRate, DescribeRate float64
	// PageSize is the DescribeClusterNodePools page size; default and
	// maximum MaxPageSize.
	PageSize int
	// BaseBackoff is the first retry delay (default 200ms); each retry
	// doubles it up to MaxBackoff (default 5s), with jitter.
	MaxBackoff, BaseBackoff time.Duration
	// MaxAttempts caps the attempts of one call (default 10); the context
	// deadline usually ends retries first.
	MaxAttempts int
	// SignatureV1 signs with the legacy V1 HMAC-SHA1 query signature
	// (SDK SignatureAlgorithm "v2") instead of ACS3-HMAC-SHA256.
	SignatureV1 bool
	// Logger receives retry and error logs; nil discards them.
	Logger *slog.Logger
	// Clock is the clock of deadline arithmetic (Now) and of the waits
	// between retries (Sleep, honouring ctx); default the wall clock.
	Clock clock.Clock
	// HTTPClient overrides the HTTP client (tests); its Timeout should be set.
	HTTPClient *http.Client
}

func (c Config) withDefaults() Config {
	c.Endpoint = cmp.Or(c.Endpoint, "ens.aliyuncs.com")
	c.Protocol = strings.ToUpper(cmp.Or(c.Protocol, "HTTPS"))
	c.ConnectTimeout = cmp.Or(c.ConnectTimeout, 5*time.Second)
	c.ReadTimeout = cmp.Or(c.ReadTimeout, 10*time.Second)
	c.WriteRate = cmp.Or(c.WriteRate, 10)
	c.DescribeRate = cmp.Or(c.DescribeRate, 100)
	c.PageSize = cmp.Or(c.PageSize, MaxPageSize)
	c.BaseBackoff = cmp.Or(c.BaseBackoff, 200*time.Millisecond)
	c.MaxBackoff = cmp.Or(c.MaxBackoff, 5*time.Second)
	c.MaxAttempts = cmp.Or(c.MaxAttempts, 10)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Clock = c.Clock.WithDefaults()
	return c
}

func (c Config) validate() error {
	switch {
	case c.Protocol != "HTTPS" && c.Protocol != "HTTP":
		return fmt.Errorf("%w: Config.Protocol %q: want HTTPS or HTTP", ErrConfig, c.Protocol)
	case strings.Contains(c.Endpoint, "://") || strings.ContainsAny(c.Endpoint, "@/?# "):
		// Never quoted: an endpoint with user info would print a secret.
		return fmt.Errorf("%w: Config.Endpoint: want host[:port] without a scheme, user info or path", ErrConfig)
	case c.Credentials.AccessKeyID == "" || c.Credentials.AccessKeySecret == "":
		return fmt.Errorf("%w: Config.Credentials: AccessKeyID and AccessKeySecret are required", ErrConfig)
	case c.PageSize < 1 || c.PageSize > MaxPageSize:
		return fmt.Errorf("%w: Config.PageSize %d: want 1..%d", ErrConfig, c.PageSize, MaxPageSize)
	case c.WriteRate < 0 || c.DescribeRate < 0:
		return fmt.Errorf("%w: Config.WriteRate and DescribeRate must be positive", ErrConfig)
	case c.ConnectTimeout < 0 || c.ReadTimeout < 0:
		return fmt.Errorf("%w: Config.ConnectTimeout and ReadTimeout must be positive", ErrConfig)
	case c.MaxAttempts < 1:
		return fmt.Errorf("%w: Config.MaxAttempts %d: want ≥ 1", ErrConfig, c.MaxAttempts)
	}
	return nil
}

// Stats counts a client's HTTP attempts. Clients derived with
// WithCredentials share one Stats.
type Stats struct {
	Calls     int64 // HTTP attempts
	Retries   int64 // attempts after the first of a call
	Throttled int64 // attempts answered with Throttling*
	Errors    int64 // calls that returned an error to the caller
}

type counters struct{ calls, retries, throttled, errors atomic.Int64 }

// Client calls the ENS node pool APIs. It is safe for concurrent use.
type Client struct {
	cfg      Config
	sdk      *sdk.Client // template; copied per call, never mutated
	http     *http.Client
	write    *limiter
	describe *limiter
	stats    *counters
}

// New returns a Client for cfg.
func New(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	hc := cfg.HTTPClient
	if hc == nil {
		dialer := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
		hc = &http.Client{
			Timeout: cfg.ReadTimeout,
			Transport: &http.Transport{
				Proxy:               http.ProxyFromEnvironment,
				DialContext:         dialer.DialContext,
				TLSHandshakeTimeout: cfg.ConnectTimeout,
				MaxIdleConnsPerHost: 32,
				IdleConnTimeout:     90 * time.Second,
				ForceAttemptHTTP2:   true,
			},
		}
	}
	c := &Client{
		cfg:      cfg,
		http:     hc,
		write:    newLimiter(cfg.WriteRate),
		describe: newLimiter(cfg.DescribeRate),
		stats:    &counters{},
	}
	var err error
	if c.sdk, err = c.newSDK(cfg.Credentials); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Client) newSDK(cr Credentials) (*sdk.Client, error) {
	oc := &openapi.Config{
		AccessKeyId:     dara.String(cr.AccessKeyID),
		AccessKeySecret: dara.String(cr.AccessKeySecret),
		Endpoint:        dara.String(c.cfg.Endpoint),
		Protocol:        dara.String(c.cfg.Protocol),
		// The SDK reads ReadTimeout in milliseconds and ConnectTimeout in
		// seconds (its dialer multiplies by time.Second). Both are set for
		// completeness; the HTTP client below enforces the real values.
		ReadTimeout:    dara.Int(int(c.cfg.ReadTimeout.Milliseconds())),
		ConnectTimeout: dara.Int(int((c.cfg.ConnectTimeout + time.Second - 1) / time.Second)),
	}
	if cr.SecurityToken != "" {
		oc.SecurityToken = dara.String(cr.SecurityToken)
	}
	if c.cfg.RegionID != "" {
		oc.RegionId = dara.String(c.cfg.RegionID)
	}
	if c.cfg.SignatureV1 {
		oc.SignatureAlgorithm = dara.String("v2")
	}
	cl, err := sdk.NewClient(oc)
	if err != nil {
		return nil, fmt.Errorf("ens: new SDK client: %w", err)
	}
	// Typed *openapi.ThrottlingError/ClientError/ServerError instead of
	// *tea.SDKError: keeps RequestId and the x-ratelimit TimeLeft.
	cl.DisableSDKError = dara.Bool(true)
	cl.RetryOptions = nil // the SDK's retry sleeps in the wrong unit
	return cl, nil
}

// WithCredentials returns a client that signs with cr (e.g. the STS
// credentials of one function invocation). It shares the HTTP client, the
// rate limiters and Stats with c.
func (c *Client) WithCredentials(cr Credentials) (*Client, error) {
	if cr.AccessKeyID == "" || cr.AccessKeySecret == "" {
		return nil, fmt.Errorf("%w: WithCredentials: AccessKeyID and AccessKeySecret are required", ErrConfig)
	}
	cl, err := c.newSDK(cr)
	if err != nil {
		return nil, err
	}
	d := *c
	d.cfg.Credentials = cr
	d.sdk = cl
	return &d, nil
}

// Stats returns the counters shared by c and the clients derived from it.
func (c *Client) Stats() Stats {
	return Stats{
		Calls:     c.stats.calls.Load(),
		Retries:   c.stats.retries.Load(),
		Throttled: c.stats.throttled.Load(),
		Errors:    c.stats.errors.Load(),
	}
}

// CreateClusterNodePool creates a node pool. The response carries the new
// NodepoolId; provisioning continues asynchronously.
func (c *Client) CreateClusterNodePool(ctx context.Context, req *CreateClusterNodePoolRequest) (*CreateClusterNodePoolResponse, error) {
	if req == nil {
		return nil, fmt.Errorf("ens: CreateClusterNodePool: nil request: %w", ErrInvalid)
	}
	q := map[string]any{"ClusterId": req.ClusterId}
	if req.NodepoolInfo != nil {
		q["NodepoolInfo"] = shrink(req.NodepoolInfo)
	}
	if req.ScalingGroup != nil {
		q["ScalingGroup"] = shrink(req.ScalingGroup)
	}
	if req.KubernetesConfig != nil {
		q["KubernetesConfig"] = shrink(req.KubernetesConfig)
	}
	out := &CreateClusterNodePoolResponse{}
	if err := c.call(ctx, "CreateClusterNodePool", q, out); err != nil {
		return nil, err
	}
	return out, nil
}

// DescribeClusterNodePoolsPage returns one page (PageNumber from 1) of a
// cluster's node pools.
func (c *Client) DescribeClusterNodePoolsPage(ctx context.Context, clusterID string, page, size int) (*DescribeClusterNodePoolsResponse, error) {
	q := map[string]any{"ClusterId": clusterID, "PageNumber": int32(page), "PageSize": int32(size)}
	out := &DescribeClusterNodePoolsResponse{}
	if err := c.call(ctx, "DescribeClusterNodePools", q, out); err != nil {
		return nil, err
	}
	return out, nil
}

// DescribeClusterNodePools returns all node pools of a cluster, reading
// pages of Config.PageSize until TotalCount pools have been seen.
func (c *Client) DescribeClusterNodePools(ctx context.Context, clusterID string) ([]NodePool, error) {
	var all []NodePool
	for page := 1; ; page++ {
		resp, err := c.DescribeClusterNodePoolsPage(ctx, clusterID, page, c.cfg.PageSize)
		if err != nil {
			return nil, err
		}
		all = append(all, resp.NodePools...)
		if len(resp.NodePools) == 0 || len(all) >= int(resp.Page.TotalCount) {
			return all, nil
		}
	}
}

// DescribeClusterDetail returns one cluster.
func (c *Client) DescribeClusterDetail(ctx context.Context, clusterID string) (*DescribeClusterDetailResponse, error) {
	out := &DescribeClusterDetailResponse{}
	if err := c.call(ctx, "DescribeClusterDetail", map[string]any{"ClusterId": clusterID}, out); err != nil {
		return nil, err
	}
	return out, nil
}

// ClusterFilter selects clusters in DescribeClustersV1; empty fields match
// everything.
type ClusterFilter struct {
	ClusterId   string
	EnsRegionId string
	Name        string
}

// DescribeClustersV1 lists the clusters that match f.
func (c *Client) DescribeClustersV1(ctx context.Context, f ClusterFilter) ([]Cluster, error) {
	q := map[string]any{}
	for k, v := range map[string]string{"ClusterId": f.ClusterId, "EnsRegionId": f.EnsRegionId, "Name": f.Name} {
		if v != "" {
			q[k] = v
		}
	}
	out := &DescribeClustersV1Response{}
	if err := c.call(ctx, "DescribeClustersV1", q, out); err != nil {
		return nil, err
	}
	return out.Clusters, nil
}

// ScaleBody is the "Body" shrink parameter of ScaleClusterNodePool.
type ScaleBody struct {
	Count int32 `json:"Count"`
}

// ScaleClusterNodePool scales a node pool out to count nodes (the API only
// scales out: count must exceed the current node count).
func (c *Client) ScaleClusterNodePool(ctx context.Context, clusterID, nodepoolID string, count int32) error {
	q := map[string]any{"ClusterId": clusterID, "NodepoolId": nodepoolID, "Body": shrink(ScaleBody{Count: count})}
	return c.call(ctx, "ScaleClusterNodePool", q, &struct{ RequestId string }{})
}

// DeleteClusterNodePool deletes a node pool and its nodes.
func (c *Client) DeleteClusterNodePool(ctx context.Context, clusterID, nodepoolID string) error {
	q := map[string]any{"ClusterId": clusterID, "NodepoolId": nodepoolID}
	return c.call(ctx, "DeleteClusterNodePool", q, &struct{ RequestId string }{})
}

// shrink serializes a nested parameter like the generated SDK:
// ArrayToStringWithSpecifiedStyle(v, name, "json") = dara.Stringify(v).
func shrink(v any) string {
	return dara.StringValue(openapiutil.ArrayToStringWithSpecifiedStyle(v, dara.String(""), dara.String("json")))
}

// params are the generated SDK's Params for every cluster/node pool action.
func params(action string) *openapi.Params {
	return &openapi.Params{
		Action:      dara.String(action),
		Version:     dara.String(APIVersion),
		Protocol:    dara.String("HTTPS"),
		Pathname:    dara.String("/"),
		Method:      dara.String("POST"),
		AuthType:    dara.String("AK"),
		Style:       dara.String("RPC"),
		ReqBodyType: dara.String("formData"),
		BodyType:    dara.String("json"),
	}
}

// IsWriteAction reports whether an action counts against the write limit
// (10/s) rather than the describe limit (100/s).
func IsWriteAction(action string) bool {
	return !strings.HasPrefix(action, "Describe")
}

func (c *Client) limiter(action string) *limiter {
	if IsWriteAction(action) {
		return c.write
	}
	return c.describe
}

// idempotent reports whether repeating action has the effect of doing it
// once. CreateClusterNodePool is not: a second call makes a second pool.
// (Scale sets a target count; Delete of a deleted pool fails harmlessly.)
func idempotent(action string) bool { return action != "CreateClusterNodePool" }

// notExecuted reports whether err proves the call had no effect: the
// gateway throttled it, or the connection was never made.
func notExecuted(err error) bool {
	if errors.Is(err, ErrThrottled) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// call runs one action with limiter, retries and backoff. Calls that are
// not idempotent are retried only when the failure proves they had no
// effect (notExecuted); otherwise the error matches ErrOutcomeUnknown.
func (c *Client) call(ctx context.Context, action string, q map[string]any, out any) error {
	lim := c.limiter(action)
	var last error
	for attempt := 0; ; attempt++ {
		if err := lim.wait(ctx); err != nil {
			// Canceled, or the wait would overrun the deadline.
			return c.fail(ctx, action, cmp.Or(last, err))
		}
		if attempt > 0 {
			c.stats.retries.Add(1)
		}
		err := c.once(ctx, action, q, out)
		lim.done()
		if err == nil {
			return nil
		}
		last = err
		if !IsRetryable(err) || attempt+1 >= c.cfg.MaxAttempts {
			return c.fail(ctx, action, err)
		}
		if !idempotent(action) && !notExecuted(err) {
			// A 5xx, a timeout or a broken connection after the request
			// went out may come after ENS created the pool: a blind retry
			// could create it twice. The caller looks before it tries again.
			return c.fail(ctx, action, &outcomeUnknownError{err: err})
		}
		d := c.backoff(attempt, err)
		if dl, ok := ctx.Deadline(); ok && c.cfg.Clock.Now().Add(d).After(dl) {
			return c.fail(ctx, action, err)
		}
		c.cfg.Logger.DebugContext(ctx, "ens: retrying", slog.String("action", action),
			slog.Int("attempt", attempt+1), logattr.Duration("backoff", d), logattr.Error(err))
		if err := c.cfg.Clock.Sleep(ctx, d); err != nil {
			return c.fail(ctx, action, last)
		}
	}
}

func (c *Client) fail(ctx context.Context, action string, err error) error {
	c.stats.errors.Add(1)
	level := slog.LevelWarn
	if _, ok := AsAPIError(err); ok && !IsRetryable(err) {
		level = slog.LevelInfo // the caller's request was refused; not our failure
	}
	c.cfg.Logger.Log(ctx, level, "ens: call failed", slog.String("action", action), logattr.Error(err))
	return err
}

// backoff returns the delay before retry attempt+1: BaseBackoff·2^attempt
// capped at MaxBackoff, with jitter in [d/2, d), and at least the TimeLeft a
// throttling answer announced.
func (c *Client) backoff(attempt int, err error) time.Duration {
	d := c.cfg.BaseBackoff << min(attempt, 30)
	if d <= 0 || d > c.cfg.MaxBackoff {
		d = c.cfg.MaxBackoff
	}
	d = d/2 + rand.N(d/2+1)
	if ae, ok := AsAPIError(err); ok && ae.RetryAfter > d {
		d = min(ae.RetryAfter, c.cfg.MaxBackoff)
	}
	return d
}

// once makes one HTTP attempt. The SDK client is copied so that this
// attempt's HTTP client carries ctx; the template is never mutated.
func (c *Client) once(ctx context.Context, action string, q map[string]any, out any) error {
	c.stats.calls.Add(1)
	cl := *c.sdk
	cl.HttpClient = ctxHTTPClient{ctx: ctx, hc: c.http}
	res, err := cl.CallApi(params(action), &openapi.OpenApiRequest{Query: openapiutil.Query(q)}, &dara.RuntimeOptions{})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		err = mapError(action, err)
		if errors.Is(err, ErrThrottled) {
			c.stats.throttled.Add(1)
		}
		return err
	}
	b, err := json.Marshal(res["body"])
	if err == nil {
		err = json.Unmarshal(b, out)
	}
	if err != nil {
		return &transportError{action: action, err: fmt.Errorf("decode response: %w", err)}
	}
	return nil
}

// mapError turns the SDK's errors (with DisableSDKError) into *APIError or
// a transport error.
func mapError(action string, err error) error {
	var (
		te *openapi.ThrottlingError
		ce *openapi.ClientError
		se *openapi.ServerError
	)
	switch {
	case errors.As(err, &te):
		ae := apiError(action, te.Code, te.StatusCode, te.RequestId, te.Data)
		if te.RetryAfter != nil {
			ae.RetryAfter = time.Duration(*te.RetryAfter) * time.Millisecond
		}
		return ae
	case errors.As(err, &ce):
		return apiError(action, ce.Code, ce.StatusCode, ce.RequestId, ce.Data)
	case errors.As(err, &se):
		return apiError(action, se.Code, se.StatusCode, se.RequestId, se.Data)
	}
	return &transportError{action: action, err: withoutQuery(err)}
}

// withoutQuery drops the query from the URL of a *url.Error in err's chain.
// An RPC-style call carries its parameters in the query — a node pool's
// ScalingGroup with its Password — and net/http's errors quote the URL, so
// kept as is it would reach logs, dead letters and callbacks.
func withoutQuery(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment, u.User = "", false, "", "", nil
			ue.URL = u.String()
		} else {
			ue.URL = "(unparseable URL)"
		}
	}
	return err
}

func apiError(action string, code *string, status *int, requestID *string, data map[string]any) *APIError {
	ae := &APIError{
		Action:     action,
		Code:       dara.StringValue(code),
		HTTPStatus: dara.IntValue(status),
		RequestID:  dara.StringValue(requestID),
	}
	if m, ok := data["Message"].(string); ok {
		ae.Message = m
	} else if m, ok := data["message"].(string); ok {
		ae.Message = m
	}
	return ae
}

// ctxHTTPClient is the dara.HttpClient of one attempt: it sends through the
// shared http.Client with the attempt's context (CallApi takes none).
type ctxHTTPClient struct {
	ctx context.Context
	hc  *http.Client
}

func (h ctxHTTPClient) Call(req *http.Request, _ *http.Transport) (*http.Response, error) {
	return h.hc.Do(req.WithContext(h.ctx))
}
