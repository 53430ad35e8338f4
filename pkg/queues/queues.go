// Package queues is the one description of the product's MNS queues: their
// names and the attributes the code relies on. scripts/queues creates,
// checks and deletes them in the cloud, the local stack (pkg/dev/localstack)
// creates its queues from the same Specs, and the s.yaml test keeps the
// function timeouts and the trigger's dead-letter queue in step with them.
//
// Change an attribute here, nowhere else: scripts/queues check then reports
// every deployed queue that differs, and scripts/queues create fixes it.
package queues

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/mns"
)

// Roles of the queues, as Spec.Role and the scripts name them.
const (
	RoleRequests          = "requests"
	RoleTracking          = "tracking"
	RoleDeadLetter        = "dead-letter"
	RoleTriggerDeadLetter = "trigger-dead-letter"
)

// DefaultTriggerDeadLetter is the default name of the queue that receives
// EventBridge's raw dead letters (CloudEvents the trigger could not push to
// the worker), kept apart from the product's dead-letter records.
const DefaultTriggerDeadLetter = "nodepool-trigger-deadletter"

// Function timeouts the visibility timeouts are derived from; s.yaml sets
// the same (a test keeps them equal).
const (
	DefaultWorkerTimeout = 120 * time.Second
	DefaultPollerTimeout = 58 * time.Second
)

// VisibilityMargin is added to a consumer's function timeout: a message in
// work must not become visible again, and be delivered a second time,
// before the invocation holding it has ended (the requests queue, read by
// EventBridge).
const VisibilityMargin = 30 * time.Second

// HeldVisibility is the tracking queue's visibility timeout: the poller
// hides every message it holds again every third of it (heartbeats), so
// a message in work is never delivered twice at once, while the messages
// of a crashed tick are back within it.
const HeldVisibility = 30 * time.Second

// Retention and size limits (MNS ranges: 60 s–15 days; 1–64 KiB).
const (
	// WorkRetention keeps requests and tracking records for 4 days (the
	// MNS default, set explicitly so that a drift shows): far beyond
	// POOL_DEADLINE, so nothing expires while it is being worked on.
	WorkRetention = 4 * 24 * time.Hour
	// DeadLetterRetention keeps dead letters as long as MNS allows, so an
	// operator has 15 days to inspect and replay them.
	DeadLetterRetention = 15 * 24 * time.Hour
	// MaxMessageSize is the MNS maximum; envelopes and callback records
	// stay below it.
	MaxMessageSize = 65536
	// DeadLetterVisibility is the visibility timeout of the dead-letter
	// queues (read by operators' tools, not by functions).
	DeadLetterVisibility = 30 * time.Second
)

// Names are the four queue names (defaults: pkg/config's and
// DefaultTriggerDeadLetter).
type Names struct {
	Requests, Tracking, DeadLetter, TriggerDeadLetter string
}

// Timeouts are the timeouts of the functions that consume the requests
// (worker) and tracking (poller) queues; zero takes the defaults. Only the
// worker's shapes a visibility timeout (the poller holds its messages with
// heartbeats: HeldVisibility).
type Timeouts struct {
	Worker, Poller time.Duration
}

// Spec is one queue as the product needs it.
type Spec struct {
	// Name is the queue name.
	Name string
	// Role is what the queue is for (RoleRequests, …).
	Role string
	// Attributes are the settable attributes, every field explicit.
	Attributes mns.QueueAttributes
}

// Specs returns the four queues for names and the consumers' timeouts.
// Empty names take the defaults.
func Specs(n Names, t Timeouts) []Spec {
	n.Requests = cmp.Or(n.Requests, config.DefaultRequestsQueue)
	n.Tracking = cmp.Or(n.Tracking, config.DefaultTrackingQueue)
	n.DeadLetter = cmp.Or(n.DeadLetter, config.DefaultDeadLetterQueue)
	n.TriggerDeadLetter = cmp.Or(n.TriggerDeadLetter, DefaultTriggerDeadLetter)
	t.Worker = cmp.Or(t.Worker, DefaultWorkerTimeout)
	t.Poller = cmp.Or(t.Poller, DefaultPollerTimeout)
	work := func(consumer time.Duration) mns.QueueAttributes {
		return mns.QueueAttributes{MaxMessageSize: MaxMessageSize, Retention: WorkRetention,
			VisibilityTimeout: min(consumer+VisibilityMargin, 12*time.Hour)}
	}
	dead := mns.QueueAttributes{MaxMessageSize: MaxMessageSize, Retention: DeadLetterRetention, VisibilityTimeout: DeadLetterVisibility}
	return []Spec{
		{Name: n.Requests, Role: RoleRequests, Attributes: work(t.Worker)},
		{Name: n.Tracking, Role: RoleTracking, Attributes: mns.QueueAttributes{MaxMessageSize: MaxMessageSize,
			Retention: WorkRetention, VisibilityTimeout: HeldVisibility}},
		{Name: n.DeadLetter, Role: RoleDeadLetter, Attributes: dead},
		{Name: n.TriggerDeadLetter, Role: RoleTriggerDeadLetter, Attributes: dead},
	}
}

// Drift is one difference between a deployed queue and its Spec.
type Drift struct {
	// Queue is the queue name.
	Queue string
	// Attribute is the MNS attribute name (VisibilityTimeout, …), or
	// "Queue" when the queue does not exist.
	Attribute string
	// Want and Got are the values, as MNS writes them (seconds, bytes).
	Want, Got string
}

func (d Drift) String() string {
	return fmt.Sprintf("%s: %s is %s, want %s", d.Queue, d.Attribute, d.Got, d.Want)
}

// Admin is what the functions here need of an MNS client (*mns.Client).
type Admin interface {
	EnsureQueue(ctx context.Context, name string, a mns.QueueAttributes) error
	SetQueueAttributes(ctx context.Context, name string, a mns.QueueAttributes) error
	DeleteQueue(ctx context.Context, name string) error
	Queue(name string, opts ...mns.Option) *mns.Queue
}

// compare lists the attributes of got that differ from want.
func compare(name string, want, got mns.QueueAttributes) []Drift {
	var out []Drift
	for _, f := range []struct {
		attr      string
		want, got int64
	}{
		{"DelaySeconds", int64(seconds(want.Delay)), int64(seconds(got.Delay))},
		{"MaximumMessageSize", int64(want.MaxMessageSize), int64(got.MaxMessageSize)},
		{"MessageRetentionPeriod", int64(seconds(want.Retention)), int64(seconds(got.Retention))},
		{"VisibilityTimeout", int64(seconds(want.VisibilityTimeout)), int64(seconds(got.VisibilityTimeout))},
		{"PollingWaitSeconds", int64(seconds(want.PollingWait)), int64(seconds(got.PollingWait))},
	} {
		if f.want != f.got {
			out = append(out, Drift{Queue: name, Attribute: f.attr, Want: fmt.Sprint(f.want), Got: fmt.Sprint(f.got)})
		}
	}
	return out
}

func seconds(d time.Duration) int64 { return int64((d + time.Second - 1) / time.Second) }

// Check reads every queue of specs and reports each attribute that differs
// from its Spec, and each queue that does not exist. An error is a failure
// to read, not a drift.
func Check(ctx context.Context, c Admin, specs []Spec) ([]Drift, error) {
	var out []Drift
	for _, s := range specs {
		a, err := c.Queue(s.Name).Attributes(ctx)
		if errors.Is(err, mns.ErrNotFound) {
			out = append(out, Drift{Queue: s.Name, Attribute: "Queue", Want: "exists", Got: "missing"})
			continue
		}
		if err != nil {
			return out, fmt.Errorf("queues: check %s: %w", s.Name, err)
		}
		out = append(out, compare(s.Name, s.Attributes, a.QueueAttributes)...)
	}
	return out, nil
}

// Create creates every queue of specs that does not exist, with its Spec's
// attributes, and leaves existing queues as they are; it returns the
// names it created and the drifts of the queues that already existed.
// Running it again creates nothing.
func Create(ctx context.Context, c Admin, specs []Spec) (created []string, drifts []Drift, err error) {
	before, err := Check(ctx, c, specs)
	if err != nil {
		return nil, nil, err
	}
	missing := map[string]bool{}
	for _, d := range before {
		if d.Attribute == "Queue" {
			missing[d.Queue] = true
		} else {
			drifts = append(drifts, d)
		}
	}
	for _, s := range specs {
		if !missing[s.Name] {
			continue
		}
		if err := c.EnsureQueue(ctx, s.Name, s.Attributes); err != nil {
			return created, drifts, fmt.Errorf("queues: create %s: %w", s.Name, err)
		}
		created = append(created, s.Name)
	}
	return created, drifts, nil
}

// Fix sets the attributes of every queue named in drifts to its Spec.
func Fix(ctx context.Context, c Admin, specs []Spec, drifts []Drift) error {
	done := map[string]bool{}
	for _, d := range drifts {
		if done[d.Queue] || d.Attribute == "Queue" {
			continue
		}
		done[d.Queue] = true
		for _, s := range specs {
			if s.Name == d.Queue {
				if err := c.SetQueueAttributes(ctx, s.Name, s.Attributes); err != nil {
					return fmt.Errorf("queues: set %s: %w", s.Name, err)
				}
			}
		}
	}
	return nil
}

// Delete deletes every queue of specs and the messages in them; a missing
// queue is not an error.
func Delete(ctx context.Context, c Admin, specs []Spec) error {
	var errs []error
	for _, s := range specs {
		if err := c.DeleteQueue(ctx, s.Name); err != nil {
			errs = append(errs, fmt.Errorf("queues: delete %s: %w", s.Name, err))
		}
	}
	return errors.Join(errs...)
}
