package enssim

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ensnodepool/webhook/pkg/dev/adminguard"
	"github.com/ensnodepool/webhook/pkg/dev/popauth"
	"github.com/ensnodepool/webhook/pkg/ens"
)

// HostID is the HostId of every error body.
const HostID = "ens.aliyuncs.com"

// maxBody bounds request bodies (form parameters).
const maxBody = 1 << 20

// ClusterSeed is a cluster the simulator knows. Its VswitchIds are the
// vSwitches of the cluster's ENS region that node pools may use.
type ClusterSeed struct {
	ClusterId   string   `json:"ClusterId"`
	Name        string   `json:"Name"`
	EnsRegionId string   `json:"EnsRegionId"`
	VswitchIds  []string `json:"VswitchIds"`
	// State is reported by DescribeClusterDetail; default "running".
	State string `json:"State,omitempty"`
	// KubernetesVersion; default "1.32.1.aliyunedge.1".
	KubernetesVersion string `json:"KubernetesVersion,omitempty"`
}

// DefaultClusters is the documented demo seed (docs/local.md, "ENS simulator"): cluster eck-demo0001 in
// ENS region cn-hangzhou-58 with vSwitches vsw-demo0001 and vsw-demo0002.
func DefaultClusters() []ClusterSeed {
	return []ClusterSeed{{
		ClusterId:   "eck-demo0001",
		Name:        "demo",
		EnsRegionId: "cn-hangzhou-58",
		VswitchIds:  []string{"vsw-demo0001", "vsw-demo0002"},
	}}
}

// Config configures a Server.
type Config struct {
	// AccessKeyID and AccessKeySecret are the only key pair accepted
	// (any SecurityToken is accepted with it). Required.
	AccessKeyID, AccessKeySecret string
	// Dir holds the bbolt state file; "" keeps state in memory only.
	Dir string
	// ProvisionTime is how long a new pool (or a scale-out) takes to become
	// active; default 20s. The admin API can change it.
	ProvisionTime time.Duration
	// WriteRate (create/scale/delete/modify) and DescribeRate are the
	// per-AccessKey, per-action limits in calls per sliding second; defaults
	// 10 and 100.
	WriteRate, DescribeRate int
	// Clusters are the known clusters; default DefaultClusters().
	Clusters []ClusterSeed
	// Now is the clock for provisioning and rate windows; default time.Now.
	Now func() time.Time
	// Logger receives request logs; nil discards them.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	c.ProvisionTime = cmp.Or(c.ProvisionTime, 20*time.Second)
	c.WriteRate = cmp.Or(c.WriteRate, 10)
	c.DescribeRate = cmp.Or(c.DescribeRate, 100)
	if len(c.Clusters) == 0 {
		c.Clusters = DefaultClusters()
	} else {
		c.Clusters = slices.Clone(c.Clusters) // the defaults below must not write into the caller's slice
	}
	for i := range c.Clusters {
		c.Clusters[i].State = cmp.Or(c.Clusters[i].State, "running")
		c.Clusters[i].KubernetesVersion = cmp.Or(c.Clusters[i].KubernetesVersion, "1.32.1.aliyunedge.1")
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
	if c.AccessKeyID == "" || c.AccessKeySecret == "" {
		return errors.New("enssim: Config.AccessKeyID and AccessKeySecret are required")
	}
	if c.ProvisionTime < 0 || c.WriteRate < 0 || c.DescribeRate < 0 {
		return errors.New("enssim: Config.ProvisionTime, WriteRate and DescribeRate must not be negative")
	}
	seen := map[string]bool{}
	for _, cl := range c.Clusters {
		if cl.ClusterId == "" || cl.EnsRegionId == "" {
			return errors.New("enssim: Config.Clusters: ClusterId and EnsRegionId are required")
		}
		if seen[cl.ClusterId] {
			return fmt.Errorf("enssim: Config.Clusters: duplicate ClusterId %q", cl.ClusterId)
		}
		seen[cl.ClusterId] = true
	}
	return nil
}

// Server is an ENS-compatible API service for the node pool APIs, with an
// admin API under /_emulator/. It implements http.Handler and is safe for
// concurrent use.
type Server struct {
	cfg      Config
	clusters map[string]ClusterSeed
	vswitch  map[string]string // vSwitch id → ENS region
	st       *store
	admin    *http.ServeMux
	closed   chan struct{}
	once     sync.Once

	mu        sync.Mutex
	provision time.Duration
	spread    time.Duration    // extra provisioning time per pool, 0..spread by name
	pools     map[string]*pool // by NodepoolId
	rules     map[string]failRule
	seq       int64
	windows   map[string][]time.Time // admitted calls by AccessKey + action
	faults    []*Fault
	stats     stats
}

// New returns a Server, loading durable state from cfg.Dir.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	st, err := openStore(cfg.Dir)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		clusters: map[string]ClusterSeed{},
		vswitch:  map[string]string{},
		st:       st,
		closed:   make(chan struct{}),
	}
	for _, c := range cfg.Clusters {
		s.clusters[c.ClusterId] = c
		for _, v := range c.VswitchIds {
			s.vswitch[v] = c.EnsRegionId
		}
	}
	s.resetLocked()
	pools, rules, prov, err := st.load()
	if err != nil {
		st.close()
		return nil, err
	}
	for _, p := range pools {
		s.pools[p.NodepoolId] = p
		s.seq = max(s.seq, p.Seq)
	}
	for _, r := range rules {
		s.rules[ruleKey(r.ClusterId, r.Name)] = r
	}
	if prov > 0 {
		s.provision = prov
	}
	s.admin = s.adminMux()
	return s, nil
}

// resetLocked sets the in-memory state to empty.
func (s *Server) resetLocked() {
	s.provision = s.cfg.ProvisionTime
	s.spread = 0
	s.pools = map[string]*pool{}
	s.rules = map[string]failRule{}
	s.windows = map[string][]time.Time{}
	s.faults = nil
	s.stats = newStats()
}

// Close releases the store and aborts injected delays. It is idempotent.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		close(s.closed)
		s.mu.Lock()
		defer s.mu.Unlock()
		err = s.st.close()
		s.st = nil
	})
	return err
}

// apiError is an error answer of the API.
type apiError struct {
	status  int
	code    string
	message string
	header  http.Header
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func errMissing(name string) *apiError {
	return &apiError{status: 400, code: "MissingParameter",
		message: fmt.Sprintf("The input parameter %q that is mandatory for processing this request is not supplied.", name)}
}

func errInvalid(field, detail string) *apiError {
	return &apiError{status: 400, code: "InvalidParameter." + field,
		message: fmt.Sprintf("The specified field %s invalid. Please check it again. (%s)", field, detail)}
}

// errorBody is the API's JSON error body.
type errorBody struct {
	RequestId string `json:"RequestId"`
	HostId    string `json:"HostId"`
	Code      string `json:"Code"`
	Message   string `json:"Message"`
	Recommend string `json:"Recommend"`
}

func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	h := strings.ToUpper(hex.EncodeToString(b[:]))
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	b := []byte(`{"Code":"InternalError","Message":"encode response"}`)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
	} else {
		b = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

func writeError(w http.ResponseWriter, requestID string, e *apiError) {
	for k, v := range e.header {
		w.Header()[k] = v
	}
	writeJSON(w, e.status, errorBody{
		RequestId: requestID,
		HostId:    HostID,
		Code:      e.code,
		Message:   e.message,
		Recommend: "https://api.aliyun.com/troubleshoot?q=" + url.QueryEscape(e.code) + "&product=Ens",
	})
}

// request is one parsed API call.
type request struct {
	action    string
	params    url.Values // query ∪ form body
	accessKey string
}

// ServeHTTP serves the ENS API at / and the admin API under /_emulator/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_emulator/") {
		if status, reason := adminguard.Check(r); status != 0 {
			writeJSON(w, status, map[string]any{"error": reason})
			return
		}
		s.admin.ServeHTTP(w, r)
		return
	}
	rid := newRequestID()
	w.Header().Set("x-acs-request-id", rid)
	req, e := s.parse(r)
	if e == nil {
		e = s.admit(r, req)
	}
	if e != nil {
		s.cfg.Logger.InfoContext(r.Context(), "enssim: refused", slog.String("action", req.action),
			slog.String("code", e.code), slog.String("requestId", rid))
		writeError(w, rid, e)
		return
	}
	body, e := s.dispatch(req)
	if e != nil {
		s.cfg.Logger.InfoContext(r.Context(), "enssim: error", slog.String("action", req.action),
			slog.String("code", e.code), slog.String("requestId", rid))
		writeError(w, rid, e)
		return
	}
	body["RequestId"] = rid
	writeJSON(w, http.StatusOK, body)
}

// parse reads parameters and verifies the signature.
func (s *Server) parse(r *http.Request) (*request, *apiError) {
	req := &request{params: url.Values{}}
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		return req, &apiError{status: 405, code: "UnsupportedHTTPMethod", message: "Only POST and GET are supported."}
	}
	if r.URL.Path != "/" {
		return req, &apiError{status: 404, code: "InvalidAction.NotFound", message: "Specified api is not found, please check your url and method."}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		return req, &apiError{status: 400, code: "InvalidParameter", message: "The request body is unreadable or too large."}
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return req, &apiError{status: 400, code: "InvalidParameter", message: "The query string is malformed."}
	}
	for k, v := range q {
		req.params[k] = v
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/x-www-form-urlencoded" && len(body) > 0 {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return req, &apiError{status: 400, code: "InvalidParameter", message: "The form body is malformed."}
		}
		for k, v := range form {
			if _, ok := req.params[k]; !ok {
				req.params[k] = v
			}
		}
	}
	req.action = cmp.Or(r.Header.Get("x-acs-action"), req.params.Get("Action"))
	if req.action == "" {
		return req, errMissing("Action")
	}
	if v := cmp.Or(r.Header.Get("x-acs-version"), req.params.Get("Version")); v != ens.APIVersion {
		return req, &apiError{status: 400, code: "InvalidVersion", message: "Specified parameter Version is not valid."}
	}
	var authErr error
	req.accessKey, authErr = popauth.Verify(r, body, req.params, popauth.Key{AccessKeyID: s.cfg.AccessKeyID, AccessKeySecret: s.cfg.AccessKeySecret})
	if af, ok := authErr.(*popauth.Failure); ok {
		return req, &apiError{status: af.Status, code: af.Code, message: af.Message}
	}
	if _, ok := handlers[req.action]; !ok {
		return req, &apiError{status: 404, code: "InvalidAction.NotFound", message: "Specified api is not found, please check your url and method."}
	}
	return req, nil
}

// admit records the call, applies the rate limit and injected faults.
func (s *Server) admit(r *http.Request, req *request) *apiError {
	s.mu.Lock()
	now := s.cfg.Now()
	s.stats.call(req.action, now)
	if e := s.throttleLocked(req, now); e != nil {
		s.stats.throttle(req.action)
		s.mu.Unlock()
		return e
	}
	f := s.takeFaultLocked(req.action)
	s.mu.Unlock()
	if f == nil {
		return nil
	}
	if f.Delay.Duration > 0 {
		t := time.NewTimer(f.Delay.Duration)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return &apiError{status: 499, code: "RequestCanceled", message: "The client went away."}
		case <-s.closed:
			return &apiError{status: 503, code: "ServiceUnavailable", message: "The simulator is shutting down."}
		}
	}
	if f.Code == "" {
		return nil
	}
	e := &apiError{status: cmp.Or(f.Status, 400), code: f.Code, message: cmp.Or(f.Message, "Injected fault.")}
	if strings.HasPrefix(f.Code, "Throttling") {
		e.header = http.Header{"X-Ratelimit-User-Api": {fmt.Sprintf("Limit:%d,Remain:0,TimeLeft:%d,Reset:%d",
			s.limitFor(req.action), f.TimeLeft.Milliseconds(), now.Add(f.TimeLeft.Duration).UnixMilli())}}
	}
	return e
}

func (s *Server) limitFor(action string) int {
	if ens.IsWriteAction(action) {
		return s.cfg.WriteRate
	}
	return s.cfg.DescribeRate
}

// throttleLocked applies the per-AccessKey, per-action sliding window: a
// call is admitted if fewer than the limit were admitted in (now-1s, now].
func (s *Server) throttleLocked(req *request, now time.Time) *apiError {
	key := req.accessKey + "\x00" + req.action
	w := trimWindow(s.windows[key], now)
	limit := s.limitFor(req.action)
	if len(w) >= limit {
		s.windows[key] = w
		left := w[0].Add(time.Second).Sub(now)
		return &apiError{
			status:  400,
			code:    "Throttling.User",
			message: "Request was denied due to user flow control.",
			header: http.Header{"X-Ratelimit-User-Api": {fmt.Sprintf("Limit:%d,Remain:0,TimeLeft:%d,Reset:%d",
				limit, left.Milliseconds(), now.Add(left).UnixMilli())}},
		}
	}
	s.windows[key] = append(w, now)
	return nil
}

// trimWindow drops the times not in (now-1s, now].
func trimWindow(w []time.Time, now time.Time) []time.Time {
	i := sort.Search(len(w), func(i int) bool { return w[i].After(now.Add(-time.Second)) })
	return w[i:] // append reallocates now and then, dropping the old prefix
}

// stats are the admin counters (in memory only).
type stats struct {
	calls     map[string]int64
	throttled map[string]int64
	recent    map[string][]time.Time // all calls by action, last second
	maxPerSec map[string]int
	faults    int64
	creates   map[[2]string]int64
}

func newStats() stats {
	return stats{
		calls:     map[string]int64{},
		throttled: map[string]int64{},
		recent:    map[string][]time.Time{},
		maxPerSec: map[string]int{},
		creates:   map[[2]string]int64{},
	}
}

func (st *stats) call(action string, now time.Time) {
	st.calls[action]++
	w := append(trimWindow(st.recent[action], now), now)
	st.recent[action] = w
	st.maxPerSec[action] = max(st.maxPerSec[action], len(w))
}

func (st *stats) throttle(action string) { st.throttled[action]++ }

// readBody is used by the admin API to decode JSON bodies.
func readBody(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode(v)
}
