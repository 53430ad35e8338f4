package callback

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

func TestPolicyNext(t *testing.T) {
	t.Parallel()
	noJitter := Policy{Rand: func() float64 { return 0.5 }}
	tests := []struct {
		name       string
		p          Policy
		attempts   int
		retryAfter time.Duration
		want       time.Duration
		ok         bool
	}{
		{"first attempt is now", noJitter, 0, 0, 0, true},
		{"after 1", noJitter, 1, 0, 5 * time.Second, true},
		{"after 2", noJitter, 2, 0, 5 * time.Minute, true},
		{"after 3", noJitter, 3, 0, 30 * time.Minute, true},
		{"after 4", noJitter, 4, 0, 2 * time.Hour, true},
		{"after 5", noJitter, 5, 0, 5 * time.Hour, true},
		{"after 6", noJitter, 6, 0, 10 * time.Hour, true},
		{"after 7", noJitter, 7, 0, 10 * time.Hour, true},
		{"exhausted after 8", noJitter, 8, 0, 0, false},
		{"Retry-After postpones", noJitter, 1, 2 * time.Minute, 2 * time.Minute, true},
		{"Retry-After never brings forward", noJitter, 2, time.Second, 5 * time.Minute, true},
		{"Retry-After adds no attempts", noJitter, 8, time.Minute, 0, false},
		{"jitter low end", Policy{Rand: func() float64 { return 0 }}, 2, 0, 4 * time.Minute, true},
		{"jitter high end", Policy{Rand: func() float64 { return 0.75 }}, 2, 0, 5*time.Minute + 30*time.Second, true},
		{"custom jitter 10%", Policy{Jitter: 0.1, Rand: func() float64 { return 0 }}, 2, 0, 4*time.Minute + 30*time.Second, true},
		{"jitter disabled", Policy{Jitter: -1, Rand: func() float64 { return 0 }}, 2, 0, 5 * time.Minute, true},
		{"custom schedule", Policy{Schedule: Schedule{time.Second, time.Minute}, Jitter: -1}, 2, 0, time.Minute, true},
		{"custom schedule exhausted", Policy{Schedule: Schedule{time.Second, time.Minute}, Jitter: -1}, 3, 0, 0, false},
	}
	for _, tc := range tests {
		got, ok := tc.p.Next(t0, tc.attempts, tc.retryAfter)
		if ok != tc.ok {
			t.Errorf("%s: ok = %v, want %v", tc.name, ok, tc.ok)
			continue
		}
		if ok && got.Sub(t0) != tc.want {
			t.Errorf("%s: delay %v, want %v", tc.name, got.Sub(t0), tc.want)
		}
	}
}

func TestScheduleNextJitterBounds(t *testing.T) {
	t.Parallel()
	for attempts := 1; attempts <= len(DefaultSchedule); attempts++ {
		base := DefaultSchedule[attempts-1]
		lo, hi := time.Duration(float64(base)*0.8), time.Duration(float64(base)*1.2)
		seen := map[time.Duration]bool{}
		for range 200 {
			next, ok := DefaultSchedule.Next(t0, attempts, 0)
			d := next.Sub(t0)
			if !ok || d < lo || d > hi {
				t.Fatalf("attempt %d: delay %v (ok=%v) outside [%v, %v]", attempts, d, ok, lo, hi)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Errorf("attempt %d: only %d distinct delays; jitter missing?", attempts, len(seen))
		}
	}
	if _, ok := DefaultSchedule.Next(t0, len(DefaultSchedule)+1, 0); ok {
		t.Errorf("schedule not exhausted after %d attempts", len(DefaultSchedule)+1)
	}
	if got, want := DefaultSchedule.Total(), 27*time.Hour+35*time.Minute+5*time.Second; got != want {
		t.Errorf("Total = %v, want %v", got, want)
	}
}
