package enssim

import (
	"encoding/json"
	"fmt"
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
	ok := func(w http.ResponseWriter, v any) { writeJSON(w, http.StatusOK, v) }
	bad := func(w http.ResponseWriter, status int, err error) {
		writeJSON(w, status, map[string]string{"error": err.Error()})
	}
	m.HandleFunc("GET /_emulator/stats", func(w http.ResponseWriter, r *http.Request) { ok(w, s.Stats()) })
	m.HandleFunc("GET /_emulator/pools", func(w http.ResponseWriter, r *http.Request) {
		ok(w, map[string]any{"pools": s.Pools(r.URL.Query().Get("clusterId"))})
	})
	m.HandleFunc("POST /_emulator/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		if err := readBody(r, &f); err != nil {
			bad(w, http.StatusBadRequest, err)
			return
		}
		if err := s.InjectFault(f); err != nil {
			bad(w, http.StatusBadRequest, err)
			return
		}
		ok(w, map[string]any{"queued": f})
	})
	m.HandleFunc("GET /_emulator/faults", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		fs := []Fault{}
		for _, f := range s.faults {
			fs = append(fs, *f)
		}
		s.mu.Unlock()
		ok(w, map[string]any{"faults": fs})
	})
	m.HandleFunc("DELETE /_emulator/faults", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.faults = nil
		s.mu.Unlock()
		ok(w, map[string]any{})
	})
	m.HandleFunc("POST /_emulator/fail", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			ClusterId string   `json:"clusterId"`
			Name      string   `json:"name"`
			After     Duration `json:"after"`
		}
		if err := readBody(r, &in); err != nil {
			bad(w, http.StatusBadRequest, err)
			return
		}
		n, err := s.FailPool(in.ClusterId, in.Name, in.After.Duration)
		if err != nil {
			bad(w, http.StatusBadRequest, err)
			return
		}
		ok(w, map[string]any{"failedNow": n})
	})
	m.HandleFunc("POST /_emulator/vanish", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			ClusterId  string `json:"clusterId"`
			NodepoolId string `json:"nodepoolId"`
			Name       string `json:"name"`
		}
		if err := readBody(r, &in); err != nil {
			bad(w, http.StatusBadRequest, err)
			return
		}
		if in.ClusterId == "" || (in.NodepoolId == "" && in.Name == "") {
			bad(w, http.StatusBadRequest, fmt.Errorf("clusterId and nodepoolId or name are required"))
			return
		}
		n, err := s.Vanish(in.ClusterId, in.NodepoolId, in.Name)
		if err != nil {
			bad(w, http.StatusInternalServerError, err)
			return
		}
		ok(w, map[string]any{"removed": n})
	})
	provision := func(w http.ResponseWriter) {
		ok(w, map[string]any{"provisionTime": Duration{s.ProvisionTime()}})
	}
	m.HandleFunc("GET /_emulator/provisioning", func(w http.ResponseWriter, r *http.Request) { provision(w) })
	m.HandleFunc("POST /_emulator/provisioning", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			ProvisionTime *Duration `json:"provisionTime"`
		}
		if err := readBody(r, &in); err != nil || in.ProvisionTime == nil {
			bad(w, http.StatusBadRequest, fmt.Errorf("want {\"provisionTime\":\"20s\"}"))
			return
		}
		if err := s.SetProvisionTime(in.ProvisionTime.Duration); err != nil {
			bad(w, http.StatusBadRequest, err)
			return
		}
		provision(w)
	})
	m.HandleFunc("POST /_emulator/reset", func(w http.ResponseWriter, r *http.Request) {
		if err := s.Reset(); err != nil {
			bad(w, http.StatusInternalServerError, err)
			return
		}
		ok(w, map[string]any{})
	})
	m.HandleFunc("/_emulator/", func(w http.ResponseWriter, r *http.Request) {
		bad(w, http.StatusNotFound, fmt.Errorf("unknown admin endpoint %s %s", r.Method, r.URL.Path))
	})
	return m
}
