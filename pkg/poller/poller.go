package poller

import (
	"sync"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/mns"
	"github.com/ensnodepool/webhook/pkg/tracking"
)

// Poller runs ticks. It keeps no state between ticks (the queue is the
// state) and is safe for concurrent use, although one tick at a time is
// the intended deployment (reservedConcurrency 1).
type Poller struct {
	cfg Config
}

// New returns a Poller for cfg.
func New(cfg Config) (*Poller, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Poller{cfg: cfg}, nil
}

// Stats counts what one tick did.
type Stats struct {
	// Received counts messages received (a message received twice in a
	// tick counts twice); Invalid those that were dead-lettered unread.
	Received, Invalid int
	// Clusters counts clusters read; ClusterErrors those that failed
	// transiently (their messages wait for a later tick).
	Clusters, ClusterErrors int
	// Checked counts status checks; Events the events produced, by type.
	Checked int
	Events  map[string]int
	// Attempts, Delivered and Retrying count callback attempts and their
	// results; DeadLettered counts dead-letter records written; Deferred
	// counts due attempts not made (budget spent, or their host's share
	// full), left due for a later pass.
	Attempts, Delivered, Retrying, DeadLettered, Deferred int
	// Heartbeats counts visibility extensions of held messages.
	Heartbeats int
	// Deleted, Replaced and Hidden count write-backs: done messages
	// deleted, changed ones replaced, unchanged ones hidden again.
	Deleted, Replaced, Hidden int
	// WriteErrors counts failed queue writes (the message is redone later).
	WriteErrors int
	// OutOfBudget is set when the tick stopped before the queue was empty.
	OutOfBudget bool
	// Duration is the tick's wall time.
	Duration time.Duration
}

// item is one received, parsed tracking message on its way through a tick.
type item struct {
	msg   mns.Message
	m     *tracking.Message
	stale bool                 // cluster unreadable: wait at least ErrorRetry
	due   []*callback.Delivery // attempts to make this tick
	hosts []*host              // hosts whose HostPending this item counts against

	mu         sync.Mutex
	receipt    string    // current receipt handle (heartbeats rotate it)
	extended   time.Time // wall clock of the last visibility change
	settled    bool      // written back: heartbeats leave it alone
	deferUntil time.Time // wall clock: a due attempt was deferred until then
}
