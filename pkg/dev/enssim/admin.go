package enssim

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ensnodepool/webhook/pkg/ens"
)

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("1.5s", "200ms"); bare numbers are read as milliseconds.
type Duration struct{ time.Duration }

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var ms int64
	if json.Unmarshal(b, &ms) == nil {
		d.Duration = time.Duration(ms) * time.Millisecond
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string like \"2s\" or milliseconds")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// Fault makes the next Count calls of Action ("" or "*" for any action)
// wait Delay and/or fail with Code and HTTP Status (default 400). A
// Throttling* code carries an x-ratelimit-user-api header with TimeLeft.
type Fault struct {
	Action   string   `json:"action"`
	Count    int      `json:"count"`
	Code     string   `json:"code,omitempty"`
	Status   int      `json:"status,omitempty"`
	Message  string   `json:"message,omitempty"`
	Delay    Duration `json:"delay,omitzero"`
	TimeLeft Duration `json:"timeLeft,omitzero"`
}

// InjectFault queues f; faults of one action apply in order.
func (s *Server) InjectFault(f Fault) error {
	if f.Count < 1 {
		return fmt.Errorf("enssim: fault count %d: want ≥ 1", f.Count)
	}
	if f.Code == "" && f.Delay.Duration <= 0 {
		return fmt.Errorf("enssim: fault needs a code or a delay")
	}
	if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
		return fmt.Errorf("enssim: fault status %d: want 4xx or 5xx", f.Status)
	}
	if f.Action == "*" {
		f.Action = ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
	return nil
}

// takeFaultLocked consumes one use of the first fault matching action.
func (s *Server) takeFaultLocked(action string) *Fault {
	for i, f := range s.faults {
		if f.Action == "" || f.Action == action {
			f.Count--
			if f.Count <= 0 {
				s.faults = slices.Delete(s.faults, i, i+1)
			}
			s.stats.faults++
			c := *f
			return &c
		}
	}
	return nil
}

// CreateCount is how many CreateClusterNodePool calls succeeded for one
// (ClusterId, Name).
type CreateCount struct {
	ClusterId string `json:"clusterId"`
	Name      string `json:"name"`
	Count     int64  `json:"count"`
}

// Stats are the admin counters since start or the last reset.
type Stats struct {
	// Calls counts authenticated calls by action (including throttled and
	// faulted ones).
	Calls map[string]int64 `json:"calls"`
	// Throttled counts calls refused by the rate limit (not injected
	// faults); ThrottledByAction splits it by action.
	Throttled         int64            `json:"throttled"`
	ThrottledByAction map[string]int64 `json:"throttledByAction"`
	// MaxPerSecond is the highest number of calls of an action in any
	// sliding 1-second window.
	MaxPerSecond map[string]int `json:"maxPerSecond"`
	// FaultsInjected counts calls that consumed an injected fault.
	FaultsInjected int64 `json:"faultsInjected"`
	// Creates lists successful creates per (ClusterId, Name); a Count above
	// 1 is a duplicate create.
	Creates []CreateCount `json:"creates"`
	// Pools is the number of existing node pools.
	Pools int `json:"pools"`
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{
		Calls:             map[string]int64{},
		ThrottledByAction: map[string]int64{},
		MaxPerSecond:      map[string]int{},
		FaultsInjected:    s.stats.faults,
		Creates:           []CreateCount{},
		Pools:             len(s.pools),
	}
	for k, v := range s.stats.calls {
		st.Calls[k] = v
	}
	for k, v := range s.stats.throttled {
		st.ThrottledByAction[k] = v
		st.Throttled += v
	}
	for k, v := range s.stats.maxPerSec {
		st.MaxPerSecond[k] = v
	}
	for k, v := range s.stats.creates {
		st.Creates = append(st.Creates, CreateCount{ClusterId: k[0], Name: k[1], Count: v})
	}
	slices.SortFunc(st.Creates, func(a, b CreateCount) int {
		return strings.Compare(a.ClusterId+"\x00"+a.Name, b.ClusterId+"\x00"+b.Name)
	})
	return st
}

// FailPool makes node pools named name in clusterID fail: those still
// provisioning fail now, and pools created later with that name fail after
// `after` (0: half the provisioning time). It returns how many existing
// pools it failed. The rule lasts until Reset.
func (s *Server) FailPool(clusterID, name string, after time.Duration) (int, error) {
	if clusterID == "" || name == "" {
		return 0, fmt.Errorf("enssim: FailPool: clusterId and name are required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := failRule{ClusterId: clusterID, Name: name, After: after}
	if err := s.st.put(bucketRules, []byte(ruleKey(clusterID, name)), r); err != nil {
		return 0, err
	}
	s.rules[ruleKey(clusterID, name)] = r
	now := s.cfg.Now()
	n := 0
	for _, p := range s.pools {
		if p.ClusterId != clusterID || p.Name != name {
			continue
		}
		if st := p.status(now).State; st == StateActive || st == StateFailed {
			continue
		}
		p.FailAt = now
		if err := s.st.put(bucketPools, []byte(p.NodepoolId), p); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Vanish deletes a node pool behind the API's back (as if removed in the
// console), by NodepoolId or, when nodepoolID is empty, every pool named
// name. It returns how many pools it removed.
func (s *Server) Vanish(clusterID, nodepoolID, name string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, p := range s.pools {
		if p.ClusterId != clusterID || (nodepoolID != "" && id != nodepoolID) || (nodepoolID == "" && p.Name != name) {
			continue
		}
		if err := s.st.delete(bucketPools, []byte(id)); err != nil {
			return n, err
		}
		delete(s.pools, id)
		n++
	}
	return n, nil
}

// ProvisionTime returns the provisioning time of new pools and scale-outs.
func (s *Server) ProvisionTime() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.provision
}

// SetProvisionTime changes the provisioning time of pools created (or
// scaled) from now on.
func (s *Server) SetProvisionTime(d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("enssim: provision time %v: must not be negative", d)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.st.put(bucketSettings, keyProvision, d); err != nil {
		return err
	}
	s.provision = d
	return nil
}

// SetProvisionSpread spreads the provisioning times of pools created from
// now on: each takes ProvisionTime plus a fixed fraction of d chosen by
// its (ClusterId, Name) (FNV-1a), so the same request always gets the
// same time and many requests spread evenly over [ProvisionTime,
// ProvisionTime + d). 0 (the default) gives every pool ProvisionTime. It
// is kept in memory only (a restart or Reset clears it).
func (s *Server) SetProvisionSpread(d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("enssim: provision spread %v: must not be negative", d)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spread = d
	return nil
}

// provisionOf is the provisioning time of a new pool (s.mu held).
func (s *Server) provisionOf(clusterID, name string) time.Duration {
	if s.spread <= 0 {
		return s.provision
	}
	h := fnv.New64a()
	h.Write([]byte(clusterID + "/" + name))
	frac := float64(h.Sum64()>>11) / float64(1<<53)
	return s.provision + time.Duration(frac*float64(s.spread))
}

// Reset deletes all pools and fail rules, clears faults, rate windows and
// counters, and restores the configured provisioning time.
func (s *Server) Reset() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.st.reset(); err != nil {
		return err
	}
	s.resetLocked()
	return nil
}

// Pools returns all pools (of clusterID, or all clusters when empty) in the
// DescribeClusterNodePools shape, in creation order.
func (s *Server) Pools(clusterID string) []ens.NodePool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	out := []ens.NodePool{}
	for _, p := range s.sortedPoolsLocked(clusterID) {
		out = append(out, p.view(now))
	}
	return out
}

// adminMux serves the unsigned admin API under /_emulator/.
func (s *Server) adminMux() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /_emulator/stats", admin(func(*http.Request) (any, error) { return s.Stats(), nil }))
	m.HandleFunc("GET /_emulator/pools", admin(func(r *http.Request) (any, error) {
		return map[string]any{"pools": s.Pools(r.URL.Query().Get("clusterId"))}, nil
	}))
	m.HandleFunc("POST /_emulator/faults", admin(s.adminInjectFault))
	m.HandleFunc("GET /_emulator/faults", admin(func(*http.Request) (any, error) { return map[string]any{"faults": s.Faults()}, nil }))
	m.HandleFunc("DELETE /_emulator/faults", admin(func(*http.Request) (any, error) { s.ClearFaults(); return map[string]any{}, nil }))
	m.HandleFunc("POST /_emulator/fail", admin(s.adminFail))
	m.HandleFunc("POST /_emulator/vanish", admin(s.adminVanish))
	m.HandleFunc("GET /_emulator/provisioning", admin(func(*http.Request) (any, error) { return s.provisioning(), nil }))
	m.HandleFunc("POST /_emulator/provisioning", admin(s.adminSetProvisioning))
	m.HandleFunc("POST /_emulator/reset", admin(func(*http.Request) (any, error) {
		return map[string]any{}, internal(s.Reset())
	}))
	m.HandleFunc("/_emulator/", admin(func(r *http.Request) (any, error) {
		return nil, adminError{http.StatusNotFound, fmt.Errorf("unknown admin endpoint %s %s", r.Method, r.URL.Path)}
	}))
	return m
}

// adminError is an admin endpoint's failure with its HTTP status; any
// other error answers 400.
type adminError struct {
	status int
	err    error
}

func (e adminError) Error() string { return e.err.Error() }

// internal marks err (if any) as the simulator's own failure (500).
func internal(err error) error {
	if err == nil {
		return nil
	}
	return adminError{http.StatusInternalServerError, err}
}

// admin serves f: its answer as JSON with 200, or {"error": …} with the
// error's status.
func admin(f func(r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := f(r)
		if err == nil {
			writeJSON(w, http.StatusOK, v)
			return
		}
		status := http.StatusBadRequest
		var ae adminError
		if errors.As(err, &ae) {
			status = ae.status
		}
		writeJSON(w, status, map[string]string{"error": err.Error()})
	}
}

func (s *Server) adminInjectFault(r *http.Request) (any, error) {
	var f Fault
	if err := readBody(r, &f); err != nil {
		return nil, err
	}
	if err := s.InjectFault(f); err != nil {
		return nil, err
	}
	return map[string]any{"queued": f}, nil
}

func (s *Server) adminFail(r *http.Request) (any, error) {
	var in struct {
		ClusterId string   `json:"clusterId"`
		Name      string   `json:"name"`
		After     Duration `json:"after"`
	}
	if err := readBody(r, &in); err != nil {
		return nil, err
	}
	n, err := s.FailPool(in.ClusterId, in.Name, in.After.Duration)
	if err != nil {
		return nil, err
	}
	return map[string]any{"failedNow": n}, nil
}

func (s *Server) adminVanish(r *http.Request) (any, error) {
	var in struct {
		ClusterId  string `json:"clusterId"`
		NodepoolId string `json:"nodepoolId"`
		Name       string `json:"name"`
	}
	if err := readBody(r, &in); err != nil {
		return nil, err
	}
	if in.ClusterId == "" || (in.NodepoolId == "" && in.Name == "") {
		return nil, fmt.Errorf("clusterId and nodepoolId or name are required")
	}
	n, err := s.Vanish(in.ClusterId, in.NodepoolId, in.Name)
	if err != nil {
		return nil, internal(err)
	}
	return map[string]any{"removed": n}, nil
}

func (s *Server) provisioning() any {
	s.mu.Lock()
	spread := s.spread
	s.mu.Unlock()
	return map[string]any{"provisionTime": Duration{s.ProvisionTime()}, "provisionSpread": Duration{spread}}
}

func (s *Server) adminSetProvisioning(r *http.Request) (any, error) {
	var in struct {
		ProvisionTime   *Duration `json:"provisionTime"`
		ProvisionSpread *Duration `json:"provisionSpread"`
	}
	if err := readBody(r, &in); err != nil || (in.ProvisionTime == nil && in.ProvisionSpread == nil) {
		return nil, fmt.Errorf("want {\"provisionTime\":\"20s\",\"provisionSpread\":\"4m\"} (either or both)")
	}
	if in.ProvisionTime != nil {
		if err := s.SetProvisionTime(in.ProvisionTime.Duration); err != nil {
			return nil, err
		}
	}
	if in.ProvisionSpread != nil {
		if err := s.SetProvisionSpread(in.ProvisionSpread.Duration); err != nil {
			return nil, err
		}
	}
	return s.provisioning(), nil
}

// Faults returns the faults still queued (GET /_emulator/faults).
func (s *Server) Faults() []Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	fs := []Fault{}
	for _, f := range s.faults {
		fs = append(fs, *f)
	}
	return fs
}

// ClearFaults drops every queued fault (DELETE /_emulator/faults).
func (s *Server) ClearFaults() {
	s.mu.Lock()
	s.faults = nil
	s.mu.Unlock()
}
