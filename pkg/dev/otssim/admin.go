package otssim

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ensnodepool/webhook/pkg/dev/adminguard"
)

// AdminPrefix is where the admin API lives, beside the ENS and MNS
// simulators' of the same name. It is not part of the Tablestore API and
// is unsigned; it answers only requests whose Host is a loopback address
// or localhost (403 otherwise), and POST only JSON bodies (415
// otherwise), so a web page can neither rebind a name to reach it nor
// post a form to it.
//
//	GET    /_emulator/stats    counters and tables (Stats)
//	GET    /_emulator/faults   the active faults
//	POST   /_emulator/faults   inject a fault: {"mode":"error","for":"60s"}
//	DELETE /_emulator/faults   end every fault
//
// A posted fault takes durations as Go duration strings ("60s", "250ms"):
//
//	{"mode": "error"|"throttle"|"delay"|"drop"|"refuse", "ops": ["PutRow"],
//	 "code": "OTSServerBusy", "status": 503, "message": "…",
//	 "for": "60s", "count": 5, "rate": 10, "delay": "2s", "after": true}
const AdminPrefix = "/_emulator/"

// Stats are the admin counters since start.
type Stats struct {
	// Calls counts requests by operation (answered, failed or dropped).
	Calls map[string]int64 `json:"calls"`
	// Errors counts error answers by code.
	Errors map[string]int64 `json:"errors"`
	// FaultsApplied counts requests an injected fault answered, delayed or
	// dropped.
	FaultsApplied int64 `json:"faultsApplied"`
	// ReadCU and WriteCU are the capacity units consumed.
	ReadCU  int64 `json:"readCU"`
	WriteCU int64 `json:"writeCU"`
	// Tables lists every table with its stored rows (expired rows still
	// count until they are overwritten).
	Tables []TableStats `json:"tables"`
}

// TableStats is one table in Stats.
type TableStats struct {
	Instance string `json:"instance"`
	Name     string `json:"name"`
	Rows     int    `json:"rows"`
}

type counters struct {
	mu      sync.Mutex
	calls   map[string]int64
	errors  map[string]int64
	readCU  int64
	writeCU int64
}

func (c *counters) init() {
	c.calls, c.errors = map[string]int64{}, map[string]int64{}
}

// record counts one request and its error code ("" for success);
// operations the service does not serve count as "unknown".
func (c *counters) record(op, code string) {
	if ops[op] == nil {
		op = "unknown"
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[op]++
	if code != "" {
		c.errors[code]++
	}
}

// consume adds the capacity units of a successful operation.
func (c *counters) consume(cu capacity, err error) {
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readCU += int64(cu.read)
	c.writeCU += int64(cu.write)
}

// Stats returns a snapshot of the counters and tables.
func (s *Server) Stats() (Stats, error) {
	s.stats.mu.Lock()
	st := Stats{Calls: maps.Clone(s.stats.calls), Errors: maps.Clone(s.stats.errors),
		ReadCU: s.stats.readCU, WriteCU: s.stats.writeCU, Tables: []TableStats{}}
	s.stats.mu.Unlock()
	s.faults.mu.Lock()
	st.FaultsApplied = s.faults.applied
	s.faults.mu.Unlock()
	s.mu.RLock()
	defer s.mu.RUnlock()
	err := s.st.view(func(tx *bolt.Tx) error {
		for _, k := range slices.Sorted(maps.Keys(s.tables)) {
			m := s.tables[k]
			b, err := rowsOf(tx, m)
			if err != nil {
				return err
			}
			st.Tables = append(st.Tables, TableStats{Instance: m.Instance, Name: m.Name, Rows: b.Stats().KeyN})
		}
		return nil
	})
	return st, err
}

// isAdmin reports whether r is for the admin API.
func isAdmin(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, AdminPrefix) }

func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	if status, reason := adminguard.Check(r); status != 0 {
		adminJSON(w, status, map[string]string{"error": reason})
		return
	}
	switch route := r.Method + " " + strings.TrimPrefix(r.URL.Path, AdminPrefix); route {
	case "GET stats":
		st, err := s.Stats()
		if err != nil {
			adminJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		adminJSON(w, http.StatusOK, st)
	case "GET faults":
		adminJSON(w, http.StatusOK, map[string]any{"faults": faultsJSON(s.Faults())})
	case "DELETE faults":
		s.ClearFaults()
		adminJSON(w, http.StatusOK, map[string]any{"faults": []faultJSON{}})
	case "POST faults":
		s.adminInject(w, r)
	default:
		adminJSON(w, http.StatusNotFound, map[string]string{"error": "no admin route " + r.Method + " " + r.URL.Path})
	}
}

// faultJSON is a Fault on the admin API, with durations as strings.
type faultJSON struct {
	Mode    string   `json:"mode"`
	Ops     []string `json:"ops,omitempty"`
	Code    string   `json:"code,omitempty"`
	Status  int      `json:"status,omitempty"`
	Message string   `json:"message,omitempty"`
	For     string   `json:"for,omitempty"`
	Count   int      `json:"count,omitempty"`
	Rate    float64  `json:"rate,omitempty"`
	Delay   string   `json:"delay,omitempty"`
	After   bool     `json:"after,omitempty"`
}

func faultsJSON(fs []Fault) []faultJSON {
	out := []faultJSON{}
	for _, f := range fs {
		j := faultJSON{Mode: f.Mode, Ops: f.Ops, Code: f.Code, Status: f.Status, Message: f.Message,
			Count: f.Count, Rate: f.Rate, After: f.After}
		if f.For > 0 {
			j.For = f.For.String()
		}
		if f.Delay > 0 {
			j.Delay = f.Delay.String()
		}
		out = append(out, j)
	}
	return out
}

func (j faultJSON) fault() (Fault, error) {
	f := Fault{Mode: j.Mode, Ops: j.Ops, Code: j.Code, Status: j.Status, Message: j.Message,
		Count: j.Count, Rate: j.Rate, After: j.After}
	for _, d := range []struct {
		name string
		in   string
		out  *time.Duration
	}{{"for", j.For, &f.For}, {"delay", j.Delay, &f.Delay}} {
		if d.in == "" {
			continue
		}
		v, err := time.ParseDuration(d.in)
		if err != nil {
			return f, fmt.Errorf("%s: want a Go duration such as \"60s\"", d.name)
		}
		*d.out = v
	}
	return f, nil
}

// adminInject activates a posted fault. A refuse fault closes the
// listener and dooms the open connections first; this request's own
// connection still delivers the answer, then closes.
func (s *Server) adminInject(w http.ResponseWriter, r *http.Request) {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		adminJSON(w, http.StatusUnsupportedMediaType, map[string]string{"error": "the body must be application/json"})
		return
	}
	var j faultJSON
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		adminJSON(w, http.StatusBadRequest, map[string]string{"error": "fault: " + err.Error()})
		return
	}
	f, err := j.fault()
	if err == nil {
		err = s.InjectFault(f)
	}
	if err != nil {
		adminJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	adminJSON(w, http.StatusOK, map[string]any{"injected": faultsJSON([]Fault{f.withDefaults()})[0]})
}

func adminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
