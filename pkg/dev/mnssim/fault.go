package mnssim

import (
	"fmt"
	"net/http"
	"sync"
)

// SendFault makes the next Count sends to Queue (SendMessage and
// BatchSendMessage: POST /queues/<Queue>/messages; "" is any queue) fail as
// a whole, before anything is stored, with an MNS error of Code (default
// InternalError, status 500) — a queue service restarting or throttling,
// for the tests of what a client does then.
type SendFault struct {
	Queue  string
	Count  int
	Code   string
	Status int
}

// faults holds the pending send faults.
type faults struct {
	mu   sync.Mutex
	list []*SendFault
}

// InjectSendFault queues f; faults apply in the order injected.
func (s *Server) InjectSendFault(f SendFault) error {
	if f.Count < 1 {
		return fmt.Errorf("mnssim: fault count %d: want ≥ 1", f.Count)
	}
	if f.Code == "" {
		f.Code, f.Status = errInternal.Code, errInternal.Status
	}
	if f.Status == 0 {
		f.Status = http.StatusInternalServerError
	}
	if f.Status < 400 || f.Status > 599 {
		return fmt.Errorf("mnssim: fault status %d: want 4xx or 5xx", f.Status)
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.list = append(s.faults.list, &f)
	return nil
}

// sendFault consumes one use of the first fault for queue, if any.
func (s *Server) sendFault(queue string) *apiError {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	for i, f := range s.faults.list {
		if f.Queue != "" && f.Queue != queue {
			continue
		}
		if f.Count--; f.Count <= 0 {
			s.faults.list = append(s.faults.list[:i], s.faults.list[i+1:]...)
		}
		return newErr(f.Status, f.Code, "Injected by the test.")
	}
	return nil
}
