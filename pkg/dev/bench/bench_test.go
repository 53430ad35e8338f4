package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // unsorted on purpose
	}
	for _, tc := range []struct {
		name string
		d    []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"median of odd", ms(3, 1, 2), 50, 2 * time.Millisecond},
		{"p50 of 100", ms(hundred...), 50, 50 * time.Millisecond},
		{"p99 of 100", ms(hundred...), 99, 99 * time.Millisecond},
		{"max", ms(hundred...), 100, 100 * time.Millisecond},
	} {
		if got := Percentile(tc.d, tc.p); got != tc.want {
			t.Errorf("%s: Percentile(%v) = %v, want %v", tc.name, tc.p, got, tc.want)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		unit string
		want string
	}{
		{9.87, "/s", "9.87/s"},
		{0.987, "", "0.99"},
		{20, "calls", "20 calls"},
		{1287.4, "req/s", "1287 req/s"},
		{12.34, "MiB", "12.3 MiB"},
		{1, "×", "1.00×"},
	} {
		if got := Format(tc.v, tc.unit); got != tc.want {
			t.Errorf("Format(%v, %q) = %q, want %q", tc.v, tc.unit, got, tc.want)
		}
	}
}

func TestPeakRSS(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	b, err := PeakRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if b < 1<<20 || b > 8<<30 {
		t.Errorf("PeakRSS(self) = %d bytes, want between 1 MiB and 8 GiB", b)
	}
	if _, err := PeakRSS(-1); err == nil {
		t.Error("PeakRSS(-1): want an error")
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"full defaults", Config{}, true},
		{"quick defaults", Config{Quick: true}, true},
		{"zero concurrency", Config{Concurrency: []int{0}}, false},
		{"fewer pools than clusters", Config{PollSizes: []int{5}, PollClusters: 10}, false},
		{"one create", Config{Creates: 1}, false},
		{"negative interval", Config{PollInterval: -time.Second}, false},
	} {
		c := tc.cfg.withDefaults()
		err := c.validate()
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrConfig)) {
			t.Errorf("%s: validate() = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
	q := Config{Quick: true}.withDefaults()
	if len(q.Concurrency) != 1 || q.Creates != 40 || len(q.PollSizes) != 1 || q.Provision != 2*q.PollInterval {
		t.Errorf("quick defaults = %+v", q)
	}
	f := Config{}.withDefaults()
	if len(f.Concurrency) != 3 || f.Creates != 200 || f.PollSizes[1] != 10000 {
		t.Errorf("full defaults = %+v", f)
	}
}

// TestRunTiny runs every section with tiny sizes: the function binaries
// built from this module under the local stack, the in-process poller and
// the naive baselines. It checks that the table and the JSON have every
// section and that the values are sane; it does not check timing targets.
func TestRunTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the function binaries and runs two local stacks (~20 s)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	rep, err := Run(ctx, Config{
		Quick: true, ModuleDir: "../../..", WorkDir: t.TempDir(),
		Concurrency: []int{4}, IntakeRequests: 20, Creates: 10, NaiveConcurrency: 4,
		PollSizes: []int{100}, PollClusters: 4, PollInterval: 500 * time.Millisecond, Provision: time.Second,
		Progress: &progress,
	})
	if err != nil {
		t.Fatalf("Run: %v\nprogress:\n%s", err, progress.String())
	}
	if rep.Mode != "quick" || rep.Machine.CPUs < 1 || rep.Machine.GoVersion == "" || rep.Took <= 0 {
		t.Errorf("report header: mode %q, machine %+v, took %v", rep.Mode, rep.Machine, rep.Took)
	}
	for _, name := range Sections {
		s := rep.Section(name)
		if s == nil || len(s.Rows) == 0 || s.Setup == "" {
			t.Fatalf("section %s missing or empty: %+v", name, s)
		}
	}
	row := func(section, metric string) Row {
		t.Helper()
		for _, r := range rep.Section(section).Rows {
			if r.Metric == metric {
				return r
			}
		}
		t.Fatalf("%s: no row %q", section, metric)
		return Row{}
	}

	for _, m := range []string{"c=4 via HTTP trigger", "c=4 in-process handler"} {
		r := row(SectionIntake, m)
		if r.Value <= 0 || r.Extra["p50_ms"] <= 0 || r.Extra["p99_ms"] < r.Extra["p50_ms"] {
			t.Errorf("intake %s: %+v", m, r)
		}
	}
	if r := row(SectionIntake, "c=4 runtime overhead (p50 ratio)"); r.Value <= 0 {
		t.Errorf("overhead ratio %v", r.Value)
	}

	// The simulator enforces 10 creates/s: a rate far above it would be a
	// measuring error; throttling and duplicates would be product bugs.
	if r := row(SectionCreation, "creates/s"); r.Value <= 0 || r.Value > 15 || r.Naive == nil || *r.Naive <= 0 {
		t.Errorf("creates/s: %+v", r)
	}
	for _, m := range []string{"throttled responses", "duplicate creates"} {
		if r := row(SectionCreation, m); r.Value != 0 || r.Pass == nil || !*r.Pass {
			t.Errorf("%s: %+v", m, r)
		}
	}
	if r := row(SectionCreation, "throttled responses"); r.Naive == nil {
		t.Error("throttled responses: no naive baseline")
	}

	// 4 clusters × 25 pools: one page each.
	if r := row(SectionPolling, "100 pools: ENS calls per tick"); r.Value != 4 || r.Naive == nil || *r.Naive != 100 {
		t.Errorf("polling calls: %+v", r)
	}
	if r := row(SectionPolling, "100 pools: calls / lower bound"); r.Value != 1 || !*r.Pass {
		t.Errorf("polling ratio: %+v", r)
	}
	if r := row(SectionPolling, "100 pools: tick wall time"); r.Value <= 0 || r.Naive == nil || *r.Naive <= 0 {
		t.Errorf("tick time: %+v", r)
	}

	active, falsed := row(SectionE2E, "active callbacks"), row(SectionE2E, "false failed/timeout callbacks")
	if active.Value+falsed.Value != 10 {
		t.Errorf("end to end: %v active + %v failed, want 10 pools reported", active.Value, falsed.Value)
	}
	if active.Value > 0 {
		if r := row(SectionE2E, "active → callback max"); r.Value < 0 || r.Value > 100 {
			t.Errorf("latency max %v intervals", r.Value)
		}
	}
	for _, fn := range []string{"webhook", "worker", "poller"} {
		if r := row(SectionMemory, fn+" peak RSS"); r.Value < 1 || r.Value > 1024 {
			t.Errorf("%s peak RSS %v MiB", fn, r.Value)
		}
	}

	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, name := range Sections {
		if !strings.Contains(table.String(), name) {
			t.Errorf("table lacks section %s:\n%s", name, table.String())
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Sections) != len(Sections) {
		t.Errorf("JSON has %d sections, want %d", len(back.Sections), len(Sections))
	}
	t.Logf("\n%s", table.String())
}

// TestCreateRate: the rate is measured between the first and the last
// listed pool; a burst that lands in one sample falls back to the time
// since watching began instead of dividing by zero.
func TestCreateRate(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name string
		w    *poolWatch
		want float64
	}{
		{"spread", &poolWatch{want: 11, start: t0, first: t0.Add(time.Second), firstN: 1, all: t0.Add(2 * time.Second)}, 10},
		{"one sample", &poolWatch{want: 10, start: t0, first: t0.Add(500 * time.Millisecond), firstN: 10, all: t0.Add(500 * time.Millisecond)}, 20},
		{"not done", &poolWatch{want: 10, start: t0, first: t0.Add(time.Second), firstN: 3}, 0},
	}
	for _, tc := range tests {
		if got := tc.w.createRate(); got != tc.want {
			t.Errorf("%s: createRate() = %v, want %v", tc.name, got, tc.want)
		}
	}
}
