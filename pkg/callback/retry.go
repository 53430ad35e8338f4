package callback

import (
	"math/rand/v2"
	"time"
)

// Schedule lists the delays between attempts: Schedule[i] is the wait after
// the (i+1)-th failed attempt. A Schedule of n entries allows n+1 attempts.
type Schedule []time.Duration

// DefaultSchedule is the published retry schedule, the one Svix uses
// (https://docs.svix.com/retries): after the immediate first attempt, retry
// after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h — 8 attempts over about
// 27.6 hours, each delay jittered by ±DefaultJitter.
var DefaultSchedule = Schedule{
	5 * time.Second,
	5 * time.Minute,
	30 * time.Minute,
	2 * time.Hour,
	5 * time.Hour,
	10 * time.Hour,
	10 * time.Hour,
}

// DefaultJitter is the ± fraction applied to each scheduled delay (Svix uses 0.2).
const DefaultJitter = 0.2

// Next returns when to make the next attempt after attempts attempts, using
// DefaultJitter and a process-wide random source; see Policy.Next.
func (s Schedule) Next(now time.Time, attempts int, retryAfter time.Duration) (time.Time, bool) {
	return Policy{Schedule: s}.Next(now, attempts, retryAfter)
}

// Total returns the sum of the delays without jitter: how long after the
// first attempt the last one is made.
func (s Schedule) Total() time.Duration {
	var t time.Duration
	for _, d := range s {
		t += d
	}
	return t
}

// Policy is a Schedule with its jitter and random source.
type Policy struct {
	// Schedule is the delay list; nil means DefaultSchedule.
	Schedule Schedule
	// Jitter is the ± fraction applied to each delay; 0 means
	// DefaultJitter, a negative value disables jitter. At most 0.5.
	Jitter float64
	// Rand returns a number in [0, 1); nil means math/rand/v2.Float64.
	// 0.5 means "no jitter".
	Rand func() float64
}

// Next returns the time of the next attempt after attempts attempts have
// been made (the latest at now), or ok=false when the schedule is used up.
// With attempts <= 0 the first attempt is due now.
//
// The delay is Schedule[attempts-1] scaled by a random factor in
// [1-Jitter, 1+Jitter), but never less than retryAfter: a receiver's
// Retry-After is honoured (Deliverer clamps it to its bounds first) and only
// ever postpones an attempt, it never brings one forward or adds attempts.
func (p Policy) Next(now time.Time, attempts int, retryAfter time.Duration) (time.Time, bool) {
	if attempts <= 0 {
		return now, true
	}
	s := p.Schedule
	if s == nil {
		s = DefaultSchedule
	}
	if attempts > len(s) {
		return time.Time{}, false
	}
	j := p.Jitter
	switch {
	case j == 0:
		j = DefaultJitter
	case j < 0:
		j = 0
	case j > 0.5:
		j = 0.5
	}
	r := 0.5
	if j > 0 {
		if p.Rand != nil {
			r = p.Rand()
		} else {
			r = rand.Float64()
		}
	}
	d := time.Duration(float64(s[attempts-1]) * (1 + j*(2*r-1)))
	d = max(d, retryAfter)
	return now.Add(d), true
}
