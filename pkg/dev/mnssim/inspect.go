package mnssim

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ensnodepool/webhook/pkg/dev/adminguard"
)

// AdminPrefix is where the inspection API lives, beside the ENS
// simulator's admin API of the same name. It is not part of the MNS API:
// it is matched on the raw request path before anything else, so no MNS
// path (with or without an endpoint prefix segment such as
// /123.mns.cn-hangzhou.aliyuncs.com) reaches it, and it never reaches the
// MNS handlers.
//
// It is unsigned, like the ENS simulator's, and answers only what
// adminguard.Check lets through (a loopback Host, JSON bodies), so a web
// page that rebinds a name to 127.0.0.1 cannot read or purge queues. The
// service itself listens on loopback only.
//
//	GET    /_emulator/queues                  every queue with its counts
//	GET    /_emulator/queues/{name}           one queue
//	GET    /_emulator/queues/{name}/messages  peek: every message, visibility unchanged (?limit=N)
//	DELETE /_emulator/queues/{name}/messages  purge the queue
const AdminPrefix = "/_emulator/"

// QueueStats is one queue as the inspection API reports it.
type QueueStats struct {
	Name string
	// Visible messages can be received now; InFlight ones were received and
	// are invisible until their visibility timeout; Delayed ones were never
	// received and are not visible yet. Total is their sum.
	Visible, InFlight, Delayed, Total int
	// OldestAge is the age of the oldest message (0 when empty), as a Go
	// duration string and in milliseconds.
	OldestAge   string
	OldestAgeMs int64
	// DeadLetter is the queue's dead-letter target, if it has a policy.
	DeadLetter string `json:",omitempty"`
}

// PeekedMessage is one message as the inspection API shows it.
type PeekedMessage struct {
	ID    string
	Body  string
	State string // visible, inflight, delayed
	// EnqueueTime and NextVisibleTime are UTC.
	EnqueueTime, NextVisibleTime time.Time
	DequeueCount                 int64
	Priority                     int64
}

// Message states in PeekedMessage.State.
const (
	StateVisible  = "visible"
	StateInFlight = "inflight"
	StateDelayed  = "delayed"
)

// isAdmin reports whether r is for the inspection API: its raw path
// (undecoded, before any endpoint prefix is stripped) starts with
// AdminPrefix.
func isAdmin(r *http.Request) bool {
	uri := r.RequestURI
	if uri == "" || !strings.HasPrefix(uri, "/") {
		uri = r.URL.RequestURI()
	}
	return strings.HasPrefix(uri, AdminPrefix)
}

func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	if status, reason := adminguard.Check(r); status != 0 {
		adminJSON(w, status, map[string]string{"error": reason})
		return
	}
	path, _, _ := strings.Cut(r.RequestURI, "?")
	if path == "" {
		path = r.URL.EscapedPath()
	}
	segs := strings.Split(strings.TrimPrefix(path, AdminPrefix), "/")
	switch {
	case len(segs) == 1 && segs[0] == "queues" && r.Method == http.MethodGet:
		s.adminQueues(w)
	case len(segs) == 2 && segs[0] == "queues" && r.Method == http.MethodGet:
		s.adminQueue(w, segs[1])
	case len(segs) == 3 && segs[0] == "queues" && segs[2] == "messages" && r.Method == http.MethodGet:
		limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
		if err != nil || limit <= 0 {
			limit = 1000
		}
		s.adminPeek(w, segs[1], limit)
	case len(segs) == 3 && segs[0] == "queues" && segs[2] == "messages" && r.Method == http.MethodDelete:
		s.adminPurge(w, segs[1])
	default:
		adminJSON(w, http.StatusNotFound, map[string]string{"error": "no such inspection API route: " + r.Method + " " + path})
	}
}

func adminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func adminQueueError(w http.ResponseWriter, name string, e *apiError) {
	status := http.StatusBadRequest
	if e == errQueueNotExist {
		status = http.StatusNotFound
	}
	adminJSON(w, status, map[string]string{"error": e.Code + ": " + name})
}

// stats counts q's live messages at now. The caller holds q.mu.
func (q *queue) stats(now int64) QueueStats {
	st := QueueStats{Name: q.meta.Name}
	if p := q.meta.Attrs.DeadLetter; p != nil {
		st.DeadLetter = p.TargetQueue
	}
	oldest := int64(0)
	for _, m := range q.msgs {
		if q.expired(m, now) {
			continue
		}
		switch stateOf(m, now) {
		case StateVisible:
			st.Visible++
		case StateInFlight:
			st.InFlight++
		default:
			st.Delayed++
		}
		if oldest == 0 || m.Enqueue < oldest {
			oldest = m.Enqueue
		}
	}
	st.Total = st.Visible + st.InFlight + st.Delayed
	if oldest > 0 {
		st.OldestAgeMs = max(now-oldest, 0)
	}
	st.OldestAge = (time.Duration(st.OldestAgeMs) * time.Millisecond).String()
	return st
}

// stateOf classifies m the way GetQueueAttributes counts it.
func stateOf(m *message, now int64) string {
	switch {
	case m.Visible <= now:
		return StateVisible
	case m.DequeueCount > 0:
		return StateInFlight
	}
	return StateDelayed
}

// inspectQueue runs fn on the live queue name with it locked, and the
// server read-locked so that the queue is not deleted meanwhile (the lock
// order of the MNS handlers: server, then queue).
func (s *Server) inspectQueue(name string, fn func(q *queue)) *apiError {
	s.mu.RLock()
	defer s.mu.RUnlock()
	q := s.qs[name]
	if q == nil {
		return errQueueNotExist
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.deleted {
		return errQueueNotExist
	}
	fn(q)
	return nil
}

func (s *Server) queueNames() []string {
	s.mu.RLock()
	names := make([]string, 0, len(s.qs))
	for n := range s.qs {
		names = append(names, n)
	}
	s.mu.RUnlock()
	slices.Sort(names)
	return names
}

func (s *Server) adminQueues(w http.ResponseWriter) {
	out := []QueueStats{}
	for _, name := range s.queueNames() {
		// A queue deleted meanwhile is left out.
		_ = s.inspectQueue(name, func(q *queue) { out = append(out, q.stats(s.nowMs())) })
	}
	adminJSON(w, http.StatusOK, map[string]any{"Queues": out})
}

func (s *Server) adminQueue(w http.ResponseWriter, name string) {
	var st QueueStats
	if e := s.inspectQueue(name, func(q *queue) { st = q.stats(s.nowMs()) }); e != nil {
		adminQueueError(w, name, e)
		return
	}
	adminJSON(w, http.StatusOK, st)
}

// adminPeek lists up to limit messages in delivery order (visible ones
// first), changing nothing.
func (s *Server) adminPeek(w http.ResponseWriter, name string, limit int) {
	var st QueueStats
	var out []PeekedMessage
	e := s.inspectQueue(name, func(q *queue) {
		now := s.nowMs()
		ms := make([]*message, 0, len(q.msgs))
		for _, m := range q.msgs {
			if !q.expired(m, now) {
				ms = append(ms, m)
			}
		}
		slices.SortFunc(ms, func(a, b *message) int {
			return cmp.Or(cmp.Compare(a.Visible, b.Visible), cmp.Compare(a.Priority, b.Priority), cmp.Compare(a.Seq, b.Seq))
		})
		out = make([]PeekedMessage, 0, min(len(ms), limit))
		for _, m := range ms[:min(len(ms), limit)] {
			out = append(out, PeekedMessage{ID: q.messageID(m.Seq), Body: m.Body, State: stateOf(m, now),
				EnqueueTime: time.UnixMilli(m.Enqueue).UTC(), NextVisibleTime: time.UnixMilli(m.Visible).UTC(),
				DequeueCount: m.DequeueCount, Priority: m.Priority})
		}
		st = q.stats(now)
	})
	if e != nil {
		adminQueueError(w, name, e)
		return
	}
	adminJSON(w, http.StatusOK, map[string]any{"Queue": st, "Messages": out})
}

// adminPurge deletes every message of the queue, durably, like deleting
// each by its receipt.
func (s *Server) adminPurge(w http.ResponseWriter, name string) {
	var n int
	var p pending
	var err error
	e := s.inspectQueue(name, func(q *queue) {
		ops := make([]op, 0, len(q.msgs))
		for _, m := range q.msgs {
			ops = append(ops, delMsgOp(q.meta.Name, m.Seq))
			q.remove(m)
		}
		n = len(ops)
		p, err = s.st.submit(ops...)
	})
	if e != nil {
		adminQueueError(w, name, e)
		return
	}
	if err = settled(p, err); err != nil {
		adminJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	adminJSON(w, http.StatusOK, map[string]int{"Deleted": n})
}
