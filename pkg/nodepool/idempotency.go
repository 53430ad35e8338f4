package nodepool

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync"
)

// Digest identifies a request's content for idempotency checks: SHA-256
// over its canonical JSON encoding with the password masked. Two bodies
// that decode to the same request (member order, whitespace) have the same
// digest; a different password alone does not change it (it is never
// hashed, so a digest cannot be used to guess it).
func Digest(r *Request) string {
	b, err := json.Marshal(r.Redacted())
	if err != nil {
		return "" // a Request always encodes; "" never matches a real digest
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// Seen remembers the digest of the request each recent RequestId stood for,
// to tell a reused Idempotency-Key (or webhook-id) with a different body
// from a retry. It is bounded (the oldest entries are forgotten first) and
// lives in one process: it catches reuse that reaches the same webhook or
// worker instance, not every reuse. Safe for concurrent use; the zero
// value is not usable, use NewSeen.
type Seen struct {
	mu    sync.Mutex
	max   int
	byID  map[string]string
	order []string // FIFO of RequestIds, oldest first
}

// NewSeen returns a Seen holding at most max RequestIds (default 10,000).
func NewSeen(max int) *Seen {
	if max <= 0 {
		max = 10000
	}
	return &Seen{max: max, byID: make(map[string]string)}
}

// Conflicts reports whether requestID was recorded with a digest other
// than digest.
func (s *Seen) Conflicts(requestID, digest string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.byID[requestID]
	return ok && d != digest
}

// Record remembers that requestID stands for digest (the first record of a
// RequestId wins: a later conflicting one does not replace it).
func (s *Seen) Record(requestID, digest string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byID[requestID]; ok {
		return
	}
	if len(s.order) >= s.max {
		delete(s.byID, s.order[0])
		s.order = s.order[1:]
	}
	s.byID[requestID] = digest
	s.order = append(s.order, requestID)
}
