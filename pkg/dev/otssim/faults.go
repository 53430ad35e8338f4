package otssim

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Fault modes.
const (
	// FaultError answers Code (default OTSServerBusy) with its status.
	FaultError = "error"
	// FaultThrottle lets Rate requests per second through and answers the
	// others Code (default OTSNotEnoughCapacityUnit).
	FaultThrottle = "throttle"
	// FaultDelay holds each request for Delay, then serves it.
	FaultDelay = "delay"
	// FaultDrop closes the connection without an answer (a reset); with
	// After it serves the request first, so the change is applied but
	// the client never hears of it.
	FaultDrop = "drop"
	// FaultRefuse stops listening for For: new connections are refused
	// and open ones are closed once their current request is answered.
	// It needs the listener from Server.Listen.
	FaultRefuse = "refuse"
)

// Fault is an injected failure. It applies to the operations in Ops (all
// when empty) from injection until For has passed (0: no time limit) or
// Count requests were affected (0: no count limit); at least one limit is
// required. Fault windows run on the wall clock, not Config.Now: they
// model outages of real length.
type Fault struct {
	// Mode is one of FaultError, FaultThrottle, FaultDelay, FaultDrop and
	// FaultRefuse.
	Mode string
	// Ops limits the fault to these operations (e.g. "PutRow").
	Ops []string
	// Code, Status and Message are the error answer of FaultError and
	// FaultThrottle; Status defaults to the code's (StatusOf).
	Code    string
	Status  int
	Message string
	// For and Count bound the fault (see above).
	For   time.Duration
	Count int
	// Rate is FaultThrottle's requests per second let through.
	Rate float64
	// Delay is FaultDelay's hold time.
	Delay time.Duration
	// After makes FaultDrop serve the request before dropping it.
	After bool
}

// withDefaults fills in the code, status and message of error answers.
func (f Fault) withDefaults() Fault {
	switch f.Mode {
	case FaultError:
		if f.Code == "" {
			f.Code, f.Message = CodeServerBusy, "Server is busy."
		}
	case FaultThrottle:
		if f.Code == "" {
			f.Code, f.Message = CodeNotEnoughCapacityUnit, "Remaining capacity unit is not enough."
		}
	}
	if f.Code != "" && f.Status == 0 {
		f.Status = StatusOf(f.Code)
	}
	if f.Code != "" && f.Message == "" {
		f.Message = "Injected fault."
	}
	return f
}

func (f Fault) validate() error {
	switch f.Mode {
	case FaultError, FaultThrottle, FaultDelay, FaultDrop, FaultRefuse:
	default:
		return fmt.Errorf("otssim: fault mode %q: want error, throttle, delay, drop or refuse", f.Mode)
	}
	switch {
	case f.For < 0 || f.Count < 0 || f.Delay < 0 || f.Rate < 0 || math.IsNaN(f.Rate):
		return errors.New("otssim: fault for, count, delay and rate must not be negative")
	case f.For == 0 && f.Count == 0:
		return errors.New("otssim: a fault needs a duration (for) or a count")
	case f.Mode == FaultRefuse && (f.For == 0 || f.Count != 0 || len(f.Ops) > 0):
		return errors.New("otssim: a refuse fault takes a duration (for) only")
	case f.Mode == FaultThrottle && f.Rate == 0:
		return errors.New("otssim: a throttle fault needs a rate (requests per second let through)")
	case f.Mode == FaultDelay && f.Delay == 0:
		return errors.New("otssim: a delay fault needs a delay")
	case f.Status != 0 && (f.Status < 400 || f.Status > 599):
		return fmt.Errorf("otssim: fault status %d: want 4xx or 5xx", f.Status)
	}
	for _, op := range f.Ops {
		if ops[op] == nil {
			return fmt.Errorf("otssim: fault operation %q is not served", op)
		}
	}
	return nil
}

// activeFault is an injected fault with its remaining budget.
type activeFault struct {
	Fault
	until   time.Time // zero: no time limit
	left    int       // requests left; -1: no count limit
	limiter *rate.Limiter
}

// faultSet holds the active faults and the listener a refuse fault stops.
type faultSet struct {
	mu      sync.Mutex
	active  []*activeFault
	gate    *gate
	applied int64
}

// InjectFault activates f now (see Fault). Faults apply in the order they
// were injected; a request takes the first one that matches it.
func (s *Server) InjectFault(f Fault) error {
	f = f.withDefaults()
	if err := f.validate(); err != nil {
		return err
	}
	fs := &s.faults
	fs.mu.Lock()
	defer fs.mu.Unlock()
	af := &activeFault{Fault: f, left: -1}
	if f.For > 0 {
		af.until = time.Now().Add(f.For)
	}
	if f.Count > 0 {
		af.left = f.Count
	}
	if f.Mode == FaultThrottle {
		af.limiter = rate.NewLimiter(rate.Limit(f.Rate), max(1, int(math.Ceil(f.Rate))))
	}
	if f.Mode == FaultRefuse {
		if fs.gate == nil {
			return errors.New("otssim: a refuse fault needs the listener from Server.Listen")
		}
		fs.gate.down(f.For)
	}
	fs.active = append(fs.active, af)
	return nil
}

// Faults returns the active faults.
func (s *Server) Faults() []Fault {
	fs := &s.faults
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.expireLocked(time.Now())
	out := []Fault{}
	for _, f := range fs.active {
		out = append(out, f.Fault)
	}
	return out
}

// ClearFaults ends every fault, and brings a refused listener back.
func (s *Server) ClearFaults() {
	fs := &s.faults
	fs.mu.Lock()
	fs.active = nil
	g := fs.gate
	fs.mu.Unlock()
	if g != nil {
		g.up()
	}
}

func (fs *faultSet) expireLocked(now time.Time) {
	fs.active = slices.DeleteFunc(fs.active, func(f *activeFault) bool {
		return f.left == 0 || (!f.until.IsZero() && !now.Before(f.until))
	})
}

// take returns the fault that applies to a request for op, using up one
// of its count, or nil.
func (fs *faultSet) take(op string) *Fault {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.expireLocked(time.Now())
	for _, f := range fs.active {
		if f.Mode == FaultRefuse || (len(f.Ops) > 0 && !slices.Contains(f.Ops, op)) {
			continue
		}
		if f.limiter != nil && f.limiter.Allow() {
			return nil
		}
		if f.left > 0 {
			f.left--
		}
		fs.applied++
		c := f.Fault
		return &c
	}
	return nil
}

// applyFault applies the fault f that a request drew before it is
// served; true means the request has been answered (or dropped).
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, rw *responder, f *Fault) bool {
	switch f.Mode {
	case FaultDelay:
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
		case <-s.closed:
		}
		return false
	case FaultError, FaultThrottle:
		s.finish(r, rw, nil, &apiError{status: f.Status, code: f.Code, message: f.Message})
		return true
	case FaultDrop:
		if f.After {
			return false
		}
		s.drop(w, rw)
		return true
	}
	return false
}

// drop closes the request's connection without an answer, with a TCP
// reset where possible.
func (s *Server) drop(w http.ResponseWriter, rw *responder) {
	s.stats.record(rw.op, "dropped")
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler) // HTTP/2 or a test recorder: abort the stream instead
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if l, ok := conn.(interface{ SetLinger(int) error }); ok {
		_ = l.SetLinger(0)
	}
	_ = conn.Close()
}

var _ net.Conn = (*gateConn)(nil)
