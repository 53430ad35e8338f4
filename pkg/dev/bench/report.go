package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Section names, in report order.
const (
	SectionIntake   = "intake"
	SectionCreation = "creation"
	SectionPolling  = "polling"
	SectionE2E      = "end-to-end"
	SectionMinute   = "minute"
	SectionMemory   = "memory"
)

// Sections lists every section a complete Report has.
var Sections = []string{SectionIntake, SectionCreation, SectionPolling, SectionE2E, SectionMinute, SectionMemory}

// Report is the result of one Run.
type Report struct {
	// Mode is "quick" or "full".
	Mode string `json:"mode"`
	// Machine is where it ran.
	Machine Machine `json:"machine"`
	// Started is when the run began; Took its wall time in seconds.
	Started time.Time `json:"started"`
	Took    float64   `json:"tookSeconds"`
	// Sections hold the rows, in the order of Sections.
	Sections []Section `json:"sections"`
}

// Section is one part of the report.
type Section struct {
	// Name is one of the Section* constants.
	Name string `json:"name"`
	// Setup says how the section was measured (sizes, in-process or
	// through the local stack).
	Setup string `json:"setup"`
	// Rows are the measurements.
	Rows []Row `json:"rows"`
}

// Row is one measurement, optionally beside its naive baseline and checked
// against a target.
type Row struct {
	// Metric names what was measured.
	Metric string `json:"metric"`
	// Value is the product's number, in Unit.
	Value float64 `json:"value"`
	Unit  string  `json:"unit,omitempty"`
	// Naive is the naive baseline's number for the same metric, if any.
	Naive *float64 `json:"naive,omitempty"`
	// Target is the limit the value is checked against (text), and Pass the
	// verdict; both empty when the row has no target.
	Target string `json:"target,omitempty"`
	Pass   *bool  `json:"pass,omitempty"`
	// Note adds detail (percentiles, sizes).
	Note string `json:"note,omitempty"`
	// Extra holds further numbers for tooling (e.g. "p50_ms").
	Extra map[string]float64 `json:"extra,omitempty"`
}

func (r Row) withNaive(v float64) Row { r.Naive = &v; return r }

func (r Row) check(target string, ok bool) Row { r.Target, r.Pass = target, &ok; return r }

// Section returns the named section (nil if absent).
func (r *Report) Section(name string) *Section {
	for i := range r.Sections {
		if r.Sections[i].Name == name {
			return &r.Sections[i]
		}
	}
	return nil
}

func (r *Report) add(s Section) { r.Sections = append(r.Sections, s) }

// Failed lists the rows whose target was missed, as "section: metric".
func (r *Report) Failed() []string {
	var out []string
	for _, s := range r.Sections {
		for _, row := range s.Rows {
			if row.Pass != nil && !*row.Pass {
				out = append(out, s.Name+": "+row.Metric)
			}
		}
	}
	return out
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report as an aligned text table, one block per
// section, with the machine on top.
func (r *Report) WriteTable(w io.Writer) error {
	m := r.Machine
	fmt.Fprintf(w, "bench (%s): %d CPU × %s, %s %s/%s, took %.1fs\n\n", r.Mode, m.CPUs, m.CPUModel, m.GoVersion, m.OS, m.Arch, r.Took)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SECTION\tMETRIC\tVALUE\tNAIVE\tTARGET\tOK\tNOTE")
	for _, s := range r.Sections {
		for i, row := range s.Rows {
			name := ""
			if i == 0 {
				name = s.Name
			}
			naive := "-"
			if row.Naive != nil {
				naive = Format(*row.Naive, row.Unit)
			}
			ok := ""
			if row.Pass != nil {
				ok = map[bool]string{true: "yes", false: "NO"}[*row.Pass]
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, row.Metric, Format(row.Value, row.Unit), naive, cmpOr(row.Target, "-"), cmpOr(ok, "-"), row.Note)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, s := range r.Sections {
		fmt.Fprintf(w, "%s: %s\n", s.Name, s.Setup)
	}
	return nil
}

// Format renders v with its unit and a precision that suits its size.
func Format(v float64, unit string) string {
	var s string
	switch {
	case v == float64(int64(v)) && (v >= 100 || v <= -100 || unit == "" || unit == "calls" || unit == "pools"):
		s = fmt.Sprintf("%d", int64(v))
	case v >= 100 || v <= -100:
		s = fmt.Sprintf("%.0f", v)
	case v >= 10 || v <= -10:
		s = fmt.Sprintf("%.1f", v)
	default:
		s = fmt.Sprintf("%.2f", v)
	}
	if unit == "" {
		return s
	}
	if strings.HasPrefix(unit, "/") || unit == "×" {
		return s + unit
	}
	return s + " " + unit
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
