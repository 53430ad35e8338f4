package deadletter

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/mns"
	"github.com/ensnodepool/webhook/pkg/tracking"
)

// Source is the dead-letter queue as the Tool uses it (*mns.Queue).
type Source interface {
	Receive(ctx context.Context, n int, wait time.Duration) ([]mns.Message, error)
	ChangeVisibility(ctx context.Context, receipt string, in time.Duration) (string, error)
	Delete(ctx context.Context, receipt string) error
}

// Sender sends one message to a queue records are redriven to
// (*mns.Queue).
type Sender interface {
	Send(ctx context.Context, body string, delay time.Duration) (mns.SendResult, error)
}

// ErrConfig reports a Tool without the queues a command needs.
var ErrConfig = errors.New("deadletter: invalid configuration")

// Tool runs the dead-letter commands. DeadLetter is required; Requests and
// Tracking only for Redrive.
type Tool struct {
	// DeadLetter is the dead-letter queue.
	DeadLetter Source
	// Requests receives redriven request and trigger records.
	Requests Sender
	// Tracking receives redriven callback records.
	Tracking Sender
	// Hold is how long the records a command looks at stay invisible to
	// other readers while it works (default 2 minutes): a command killed
	// midway leaves them to reappear after Hold.
	Hold time.Duration
	// Settle is how long a command waits, once the queue looks empty, for
	// records that others hold to become visible (default 2 s: enough for
	// the records a command that just ended released); negative: no wait.
	Settle time.Duration
	// Max bounds how many records one command looks at (default 10,000).
	Max int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// OnUnseen, if set, is told how many records redrive and purge could
	// not look at because another reader held them (a killed run's hold
	// ends after Hold) or they were delayed; a rerun then picks them up.
	OnUnseen func(n int)
	// AfterSend, if set, is called after a redriven record's new message
	// was acknowledged and before the record is deleted (tests use it to
	// stop a run at the worst moment).
	AfterSend func(Record)
}

// MaxHold is the longest Hold: MNS keeps a received message invisible
// for at most 12 hours (VisibilityTimeout 1-43200 s,
// https://www.alibabacloud.com/help/en/mns/developer-reference/api-mns-2015-06-06-changemessagevisibility).
// A longer one would hold nothing, and the records would look taken.
const MaxHold = 12 * time.Hour

// MinHold is the shortest Hold MNS accepts (1 s).
const MinHold = time.Second

func (t *Tool) hold() time.Duration { return cmp.Or(t.Hold, 2*time.Minute) }
func (t *Tool) max() int            { return cmp.Or(t.Max, 10000) }
func (t *Tool) settle() time.Duration {
	if t.Settle < 0 {
		return 0
	}
	return cmp.Or(t.Settle, 2*time.Second)
}
func (t *Tool) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// Kinds lists every Kind a record can have, in the order tools name them.
var Kinds = []string{KindRequest, KindCallback, KindTracking, KindTrigger, KindUnknown}

// Filter selects records; the zero Filter selects all. Every set field
// must match.
type Filter struct {
	// Kind, RequestId, ClusterId, Caller and Cause match exactly.
	Kind, RequestId, ClusterId, Caller, Cause string
	// OlderThan and NewerThan bound the record's age.
	OlderThan, NewerThan time.Duration
	// ID matches one message id.
	ID string
}

// Validate reports a Filter no record could meaningfully match: a Kind
// that is none of Kinds, or a negative age bound.
func (f Filter) Validate() error {
	var errs []error
	if f.Kind != "" && !slices.Contains(Kinds, f.Kind) {
		errs = append(errs, fmt.Errorf("%w: kind %q is none of %s", ErrFilter, f.Kind, strings.Join(Kinds, ", ")))
	}
	if f.OlderThan < 0 {
		errs = append(errs, fmt.Errorf("%w: older-than %v is negative", ErrFilter, f.OlderThan))
	}
	if f.NewerThan < 0 {
		errs = append(errs, fmt.Errorf("%w: newer-than %v is negative", ErrFilter, f.NewerThan))
	}
	return errors.Join(errs...)
}

// ErrFilter is matched by every error of Filter.Validate.
var ErrFilter = errors.New("invalid filter")

// Match reports whether r passes f at now.
func (f Filter) Match(r *Record, now time.Time) bool {
	switch {
	case f.ID != "" && r.ID != f.ID,
		f.Kind != "" && r.Kind != f.Kind,
		f.RequestId != "" && r.RequestId != f.RequestId,
		f.ClusterId != "" && r.ClusterId != f.ClusterId,
		f.Caller != "" && r.Caller != f.Caller,
		f.Cause != "" && r.Cause() != f.Cause,
		f.OlderThan > 0 && r.Age(now) < f.OlderThan,
		f.NewerThan > 0 && r.Age(now) > f.NewerThan:
		return false
	}
	return true
}

// session holds the records a command has received until it releases them.
type session struct {
	t      *Tool
	held   map[string]*Record // by message id
	seen   int
	waited time.Duration
}

const settleStep = 200 * time.Millisecond

// begin checks the Tool and the filter and starts a session.
func (t *Tool) begin(f Filter) (*session, error) {
	switch h := t.hold(); {
	case t.DeadLetter == nil:
		return nil, fmt.Errorf("%w: Tool.DeadLetter is required", ErrConfig)
	case h < MinHold || h > MaxHold:
		return nil, fmt.Errorf("%w: Tool.Hold %v is outside MNS's visibility timeout of %v to %v", ErrConfig, h, MinHold, MaxHold)
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return &session{t: t, held: map[string]*Record{}}, nil
}

// next receives the next batch of records not yet seen, holding each for
// Hold. It returns nil when the queue has no more visible records or Max
// records were seen.
func (s *session) next(ctx context.Context) ([]*Record, error) {
	for s.seen < s.t.max() {
		msgs, err := s.t.DeadLetter.Receive(ctx, min(mns.MaxBatch, s.t.max()-s.seen), 0)
		if err != nil {
			return nil, fmt.Errorf("deadletter: receive: %w", err)
		}
		if len(msgs) == 0 {
			// Records a command that just ended released become visible a
			// second later: wait for them a little, not for long holds.
			if s.waited < s.t.settle() && s.unseen(ctx) > 0 {
				s.waited += settleStep
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(settleStep):
				}
				continue
			}
			return nil, nil
		}
		var out []*Record
		for _, m := range msgs {
			h, err := s.t.DeadLetter.ChangeVisibility(ctx, m.ReceiptHandle, s.t.hold())
			if err != nil {
				continue // someone else has it now
			}
			m.ReceiptHandle = h
			r := Parse(m)
			if old, dup := s.held[r.ID]; dup {
				old.receipt = h // seen again: the earlier hold lapsed
				continue
			}
			s.seen++
			s.held[r.ID] = &r
			out = append(out, &r)
		}
		if len(out) > 0 {
			return out, nil
		}
	}
	return nil, nil
}

// all receives every record (up to Max).
func (s *session) all(ctx context.Context) ([]*Record, error) {
	var recs []*Record
	for {
		batch, err := s.next(ctx)
		if err != nil || batch == nil {
			return recs, err
		}
		recs = append(recs, batch...)
	}
}

// unseen counts the records the queue holds that this session has not
// seen: received by someone else (another command whose hold has not run
// out, a killed one), or delayed. It is -1 when the Source cannot tell.
func (s *session) unseen(ctx context.Context) int {
	a, ok := s.t.DeadLetter.(interface {
		Attributes(ctx context.Context) (mns.Attributes, error)
	})
	if !ok {
		return -1
	}
	at, err := a.Attributes(ctx)
	if err != nil {
		return -1
	}
	return max(int(at.Inactive+at.Delayed)-len(s.held), 0)
}

// drop forgets a record that was deleted.
func (s *session) drop(r *Record) { delete(s.held, r.ID) }

// release makes every held record visible again (after MNS's minimum of
// one second). It runs even when ctx is done.
func (s *session) release(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)
	var errs []error
	for _, r := range s.held {
		if _, err := s.t.DeadLetter.ChangeVisibility(ctx, r.receipt, time.Second); err != nil {
			errs = append(errs, fmt.Errorf("release %s: %w", r.ID, err))
		}
	}
	clear(s.held)
	return errors.Join(errs...)
}

// Group is a count of records of one Kind and Cause.
type Group struct {
	Kind, Cause string
	Count       int
	// Oldest and Newest are when the oldest and the newest record were
	// written (their At).
	Oldest, Newest time.Time
}

// Listing is what List returns.
type Listing struct {
	// Groups are sorted by Kind, then Cause.
	Groups []Group
	// Records are the matching records, oldest first.
	Records []Record
	// Scanned is how many records were read; Truncated reports that Max
	// stopped the scan.
	Scanned   int
	Truncated bool
	// Unseen counts records on the queue that the scan could not read
	// (held by another reader, or delayed); -1 when unknown.
	Unseen int
}

// List reads every record and returns those f selects, grouped.
func (t *Tool) List(ctx context.Context, f Filter) (Listing, error) {
	s, err := t.begin(f)
	if err != nil {
		return Listing{}, err
	}
	recs, err := s.all(ctx)
	unseen := s.unseen(ctx)
	err = errors.Join(err, s.release(ctx))
	now := t.now()
	l := Listing{Scanned: len(recs), Truncated: len(recs) >= t.max(), Unseen: unseen}
	idx := map[[2]string]int{}
	for _, r := range recs {
		if !f.Match(r, now) {
			continue
		}
		l.Records = append(l.Records, *r)
		k := [2]string{r.Kind, r.Cause()}
		i, ok := idx[k]
		if !ok {
			i = len(l.Groups)
			idx[k] = i
			l.Groups = append(l.Groups, Group{Kind: r.Kind, Cause: r.Cause(), Oldest: r.At, Newest: r.At})
		}
		g := &l.Groups[i]
		g.Count++
		if r.At.Before(g.Oldest) {
			g.Oldest = r.At
		}
		if r.At.After(g.Newest) {
			g.Newest = r.At
		}
	}
	slices.SortFunc(l.Groups, func(a, b Group) int {
		return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.Cause, b.Cause))
	})
	slices.SortStableFunc(l.Records, func(a, b Record) int { return a.At.Compare(b.At) })
	return l, err
}

// ErrNotFound is returned by Show when no record has the id.
var ErrNotFound = errors.New("deadletter: no such record")

// Show returns the record with message id id.
func (t *Tool) Show(ctx context.Context, id string) (Record, error) {
	s, err := t.begin(Filter{})
	if err != nil {
		return Record{}, err
	}
	defer func() { _ = s.release(ctx) }()
	for {
		batch, err := s.next(ctx)
		if err != nil {
			return Record{}, err
		}
		if batch == nil {
			if n := s.unseen(ctx); n > 0 {
				return Record{}, fmt.Errorf("%w: %s (%d records are held by another reader or delayed; retry once they are visible)", ErrNotFound, id, n)
			}
			return Record{}, fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		for _, r := range batch {
			if r.ID == id {
				return *r, nil
			}
		}
	}
}

// Action is what Redrive or Purge did (or, dry, would do) with one record.
type Action struct {
	// Record is the record acted on.
	Record Record
	// Outcome is "redriven", "would-redrive", "skipped", "purged",
	// "would-purge", "kept" or "failed".
	Outcome string
	// To is the queue message sent: "requests" or "tracking".
	To string `json:",omitempty"`
	// MessageID is the new message's id.
	MessageID string `json:",omitempty"`
	// Detail explains a skip or failure.
	Detail string `json:",omitempty"`
}

// Outcomes of an Action.
const (
	Redriven     = "redriven"
	WouldRedrive = "would-redrive"
	Skipped      = "skipped"
	Purged       = "purged"
	WouldPurge   = "would-purge"
	// Kept is a record Purge matched and kept, the purge not confirmed.
	Kept   = "kept"
	Failed = "failed"
)

// ErrNotConfirmed is returned by Purge when confirm refused: nothing was
// deleted.
var ErrNotConfirmed = errors.New("purge not confirmed: nothing deleted")

// Redrive moves the records f selects back: request and trigger records
// onto the requests queue as the envelope they were (same RequestId),
// callback records onto the tracking queue as a terminal tracking message
// holding one fresh delivery of the same event (same webhook-id, empty
// attempt history, due now). Each record is deleted only after its new
// message was acknowledged. With dry, nothing is sent or deleted. report,
// if set, is called with each Action as it happens.
func (t *Tool) Redrive(ctx context.Context, f Filter, dry bool, report func(Action)) ([]Action, error) {
	s, err := t.begin(f)
	if err != nil {
		return nil, err
	}
	if !dry && (t.Requests == nil || t.Tracking == nil) {
		return nil, fmt.Errorf("%w: Redrive needs Tool.Requests and Tool.Tracking", ErrConfig)
	}
	var acts []Action
	emit := func(a Action) {
		acts = append(acts, a)
		if report != nil {
			report(a)
		}
	}
	// Records written after the run began (a redriven request that failed
	// again) are left for the next run, so a run never chases its own tail.
	start := t.now()
	var errs []error
	for {
		batch, err := s.next(ctx)
		if err != nil {
			errs = append(errs, err)
			break
		}
		if batch == nil {
			break
		}
		now := t.now()
		for _, r := range batch {
			if !f.Match(r, now) || r.EnqueuedAt.After(start) {
				continue
			}
			body, to, err := t.redriveMessage(r, now)
			switch {
			case err != nil:
				emit(Action{Record: *r, Outcome: Skipped, Detail: err.Error()})
				continue
			case dry:
				emit(Action{Record: *r, Outcome: WouldRedrive, To: to})
				continue
			}
			sink := t.Requests
			if to == "tracking" {
				sink = t.Tracking
			}
			res, err := sink.Send(ctx, body, 0)
			if err != nil {
				emit(Action{Record: *r, Outcome: Failed, To: to, Detail: "send: " + err.Error()})
				errs = append(errs, fmt.Errorf("redrive %s: %w", r.ID, err))
				continue
			}
			if t.AfterSend != nil {
				t.AfterSend(*r)
			}
			if err := t.DeadLetter.Delete(ctx, r.receipt); err != nil {
				// The new message stands; the record reappears and a rerun
				// moves it again under the same stable ids.
				emit(Action{Record: *r, Outcome: Failed, To: to, MessageID: res.MessageID,
					Detail: "sent, but the record was not deleted (a rerun sends it again): " + err.Error()})
				errs = append(errs, fmt.Errorf("delete %s: %w", r.ID, err))
				continue
			}
			s.drop(r)
			emit(Action{Record: *r, Outcome: Redriven, To: to, MessageID: res.MessageID})
		}
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
	}
	t.tellUnseen(ctx, s)
	errs = append(errs, s.release(ctx))
	return acts, errors.Join(errs...)
}

func (t *Tool) tellUnseen(ctx context.Context, s *session) {
	if t.OnUnseen != nil {
		if n := s.unseen(context.WithoutCancel(ctx)); n > 0 {
			t.OnUnseen(n)
		}
	}
}

// redriveMessage builds the message that puts r back and names its queue.
func (t *Tool) redriveMessage(r *Record, now time.Time) (string, string, error) {
	switch {
	case r.notRedrivable != "":
		return "", "", errors.New(r.notRedrivable)
	case r.payload != nil:
		return string(r.payload), "requests", nil
	case r.delivery != nil:
		m := redelivery(r, now)
		body, err := m.Marshal()
		return body, "tracking", err
	}
	return "", "", errors.New("nothing to redrive")
}

// redelivery is the tracking message that re-schedules a dead-lettered
// callback: terminal (the pool is not polled again; its own tracking
// message, if any, carries on), the event already told, and one pending
// delivery with the same webhook-id and body, no attempts, due now.
func redelivery(r *Record, now time.Time) *tracking.Message {
	d := r.delivery
	ev := d.Event
	// Everything the delivery carries (format, expiry, whose secret signs
	// it, …) stays; only its history and schedule start again.
	fresh := *d
	fresh.Attempts, fresh.NextAt, fresh.State = nil, now, callback.Pending
	return &tracking.Message{
		RequestId: ev.Data.RequestId, ClusterId: ev.Data.ClusterId, Name: ev.Data.Name, NodepoolId: ev.Data.NodepoolId,
		CallbackUrl: d.URL, CallbackFormat: d.Format, CallbackExpiresAt: d.ExpiresAt,
		CreatedAt: now, Deadline: now, Terminal: true, Told: []string{ev.Type},
		Deliveries: []callback.Delivery{fresh},
	}
}

// Purge deletes the records f selects. It first reads them all and holds
// them; confirm (nil: yes) is asked with the selection and may refuse, in
// which case nothing is deleted: each matching record is a Kept action and
// the error matches ErrNotConfirmed. With dry, nothing is deleted either
// (WouldPurge actions).
func (t *Tool) Purge(ctx context.Context, f Filter, dry bool, confirm func([]Record) bool) ([]Action, error) {
	s, err := t.begin(f)
	if err != nil {
		return nil, err
	}
	recs, err := s.all(ctx)
	if err != nil {
		return nil, errors.Join(err, s.release(ctx))
	}
	t.tellUnseen(ctx, s)
	// Oldest first, as List shows them: the order MNS hands records out
	// in is not stable.
	slices.SortStableFunc(recs, func(a, b *Record) int { return a.At.Compare(b.At) })
	now := t.now()
	var sel []*Record
	var view []Record
	for _, r := range recs {
		if f.Match(r, now) {
			sel = append(sel, r)
			view = append(view, *r)
		}
	}
	var acts []Action
	switch {
	case dry || len(sel) == 0:
		for _, r := range sel {
			acts = append(acts, Action{Record: *r, Outcome: WouldPurge})
		}
		return acts, s.release(ctx)
	case confirm != nil && !confirm(view):
		for _, r := range sel {
			acts = append(acts, Action{Record: *r, Outcome: Kept, Detail: "not confirmed"})
		}
		return acts, errors.Join(fmt.Errorf("%w: %d matching records kept", ErrNotConfirmed, len(sel)), s.release(ctx))
	}
	var errs []error
	for _, r := range sel {
		if err := t.DeadLetter.Delete(ctx, r.receipt); err != nil {
			acts = append(acts, Action{Record: *r, Outcome: Failed, Detail: "delete: " + err.Error()})
			errs = append(errs, fmt.Errorf("purge %s: %w", r.ID, err))
			continue
		}
		s.drop(r)
		acts = append(acts, Action{Record: *r, Outcome: Purged})
	}
	errs = append(errs, s.release(ctx))
	return acts, errors.Join(errs...)
}
