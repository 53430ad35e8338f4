package testkit

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// Recipe is one ```sh block of a documentation page, with what the page
// says it prints: the block's "# → …" line (Answer) and the lines of the
// plain ``` block that follows it (Lines). In both, "…" stands for
// anything.
type Recipe struct {
	// Heading is the "###" heading the block stands under ("" for none).
	Heading string
	// Shell is the block as written.
	Shell string
	// Answer matches the whole "# →" line's text; nil when there is none.
	Answer *regexp.Regexp
	// Lines match, in order, the lines shown after the block.
	Lines []*regexp.Regexp
}

// Recipes returns the ```sh blocks of the section of the Markdown page at
// path under heading (a whole heading line, e.g. "## Pool status"), up to
// the next "## " heading. It fails the test when there is none.
func Recipes(tb testing.TB, path, heading string) []Recipe {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	page := string(b)
	i := strings.Index(page, "\n"+heading+"\n")
	if i < 0 {
		tb.Fatalf("%s has no section %q", path, heading)
	}
	section := page[i+len(heading)+2:]
	if j := strings.Index(section, "\n## "); j >= 0 {
		section = section[:j]
	}
	var out []Recipe
	sub := ""
	blocks := regexp.MustCompile("(?ms)^### ([^\\n]*)$|^```(sh)?\\n(.*?)\\n```$")
	answer := regexp.MustCompile(`(?m)^# → (.*)$`)
	for _, m := range blocks.FindAllStringSubmatch(section, -1) {
		switch {
		case m[1] != "":
			sub = m[1]
		case m[2] == "sh":
			r := Recipe{Heading: sub, Shell: m[3]}
			if a := answer.FindStringSubmatch(m[3]); a != nil {
				r.Answer = Ellipsis(a[1])
			}
			out = append(out, r)
		case len(out) > 0:
			for _, l := range strings.Split(m[3], "\n") {
				out[len(out)-1].Lines = append(out[len(out)-1].Lines, Ellipsis(l))
			}
		}
	}
	if len(out) == 0 {
		tb.Fatalf("%s: no sh block under %q", path, heading)
	}
	return out
}

// Ellipsis makes a line of a page a pattern of the whole line, where "…"
// stands for anything.
func Ellipsis(line string) *regexp.Regexp {
	parts := strings.Split(line, "…")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
}

// NeedTools skips the test unless every named program is on the PATH (a
// recipe's bash, curl, openssl).
func NeedTools(tb testing.TB, names ...string) {
	tb.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			tb.Skipf("no %s to run the recipe", n)
		}
	}
}

// RunRecipe runs script with bash in dir, with replace's old → new pairs
// applied first (a local port in place of the page's), and returns its
// standard output.
func RunRecipe(tb testing.TB, dir, script string, replace ...string) ([]byte, error) {
	tb.Helper()
	cmd := exec.Command("bash", "-c", strings.NewReplacer(replace...).Replace(script))
	cmd.Dir = dir
	return cmd.Output()
}
