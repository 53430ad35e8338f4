// Package docs_test keeps the documentation honest: every relative link and
// anchor in `README.md` and `docs/*.md` resolves (with GitHub's heading
// anchors), external links are well-formed, every page in `docs/` is
// reachable from the README, the README stays short, the settings table
// names exactly the settings `pkg/config` reads, the API tables of
// `docs/api.md` and `docs/callbacks.md` are the OpenAPI document's
// (api_test.go), and the package table in `docs/design.md` is what `go
// list` reports (`go test ./docs -run TestPackageTable -update` rewrites
// it).
package docs_test

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/doc"
	"go/parser"
	"go/token"
	"io"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/ensnodepool/webhook/pkg/config"
)

var update = flag.Bool("update", false, "rewrite the package table in docs/design.md from go list")

// root is the repository root, seen from this package's directory.
const root = ".."

// readmeMaxLines is the README's length limit: it is read in five minutes,
// everything else is in docs/.
const readmeMaxLines = 250

// page is one Markdown file: its anchors and its links.
type page struct {
	name    string          // slash path from the repository root
	anchors map[string]bool // GitHub heading anchors
	links   []link
}

// link is one link target and the line it is on.
type link struct {
	target string
	line   int
}

// pages reads README.md and docs/*.md.
func pages(t *testing.T) map[string]*page {
	t.Helper()
	names := []string{"README.md"}
	md, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range md {
		names = append(names, "docs/"+filepath.Base(m))
	}
	out := map[string]*page{}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(n)))
		if err != nil {
			t.Fatal(err)
		}
		out[n] = parse(n, string(b))
	}
	return out
}

var (
	fence     = regexp.MustCompile("^ {0,3}(```|~~~)")
	heading   = regexp.MustCompile(`^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$`)
	inlineRef = regexp.MustCompile(`\]\(\s*([^()\s]*)(?:\s+"[^"]*")?\s*\)`)
	autolink  = regexp.MustCompile(`<((?:https?|mailto):[^>\s]*)>`)
	refDef    = regexp.MustCompile(`(?m)^ {0,3}\[[^\]]+\]:\s*(\S+)`)
	linkText  = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
)

// parse finds the headings and links of a Markdown text, outside code
// blocks and code spans.
func parse(name, text string) *page {
	p := &page{name: name, anchors: map[string]bool{}}
	seen := map[string]int{}
	var prose []string // the text with code blanked, line by line
	inFence := false
	for _, line := range strings.Split(text, "\n") {
		if fence.MatchString(line) {
			inFence = !inFence
			prose = append(prose, "")
			continue
		}
		if inFence {
			prose = append(prose, "")
			continue
		}
		if m := heading.FindStringSubmatch(line); m != nil {
			p.anchors[uniqueSlug(slug(m[1]), seen)] = true
		}
		prose = append(prose, blankCodeSpans(line))
	}
	body := strings.Join(prose, "\n")
	for _, re := range []*regexp.Regexp{inlineRef, autolink, refDef} {
		for _, m := range re.FindAllStringSubmatchIndex(body, -1) {
			p.links = append(p.links, link{target: body[m[2]:m[3]], line: 1 + strings.Count(body[:m[2]], "\n")})
		}
	}
	return p
}

// blankCodeSpans blanks the brackets, parentheses and backticks of each
// `code span`, so that no link is read inside one. A span opens with a run
// of backticks and closes at the next run of the same length.
func blankCodeSpans(line string) string {
	b := []byte(line)
	for i := 0; i < len(b); {
		n := ticks(b, i)
		if n == 0 {
			i++
			continue
		}
		end := -1
		for j := i + n; j < len(b) && end < 0; {
			k := ticks(b, j)
			switch {
			case k == 0:
				j++
			case k == n:
				end = j
			default:
				j += k
			}
		}
		if end < 0 {
			i += n
			continue
		}
		for j := i; j < end+n; j++ {
			switch b[j] {
			case '`', '[', ']', '(', ')', '<', '>':
				b[j] = ' '
			}
		}
		i = end + n
	}
	return string(b)
}

// ticks is the length of the run of backticks at b[i:].
func ticks(b []byte, i int) int {
	n := 0
	for i+n < len(b) && b[i+n] == '`' {
		n++
	}
	return n
}

// slug is GitHub's anchor for a heading: the rendered text in lower case,
// spaces turned into '-', every other character that is not a letter, a
// digit, '-' or '_' dropped.
func slug(h string) string {
	h = linkText.ReplaceAllString(h, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// uniqueSlug numbers repeated anchors as GitHub does (github-slugger):
// the second "x" is "x-1", the third "x-2"; a number already taken is
// skipped.
func uniqueSlug(s string, seen map[string]int) string {
	out := s
	for {
		if _, taken := seen[out]; !taken {
			break
		}
		seen[s]++
		out = fmt.Sprintf("%s-%d", s, seen[s])
	}
	seen[out] = 0
	return out
}

// TestSlug pins the anchor rules against anchors GitHub gives.
func TestSlug(t *testing.T) {
	for _, tc := range []struct{ heading, want string }{
		{"Deploy (Serverless Devs, fc3)", "deploy-serverless-devs-fc3"},
		{"ChatOps: Slack, DingTalk, Feishu", "chatops-slack-dingtalk-feishu"},
		{"2. Roles", "2-roles"},
		{"Rotating `CALLBACK_SECRET`", "rotating-callback_secret"},
		{"Measured in the packages", "measured-in-the-packages"},
		{"Commands — and more", "commands--and-more"},
		{"[Linked](https://example.com) heading", "linked-heading"},
		{"Ünïcödé stays", "ünïcödé-stays"},
	} {
		if got := slug(tc.heading); got != tc.want {
			t.Errorf("slug(%q) = %q, want %q", tc.heading, got, tc.want)
		}
	}
	p := parse("x.md", "# A\n## A\n```\n# A\n```\n### A\n## A-1\n")
	for _, want := range []string{"a", "a-1", "a-2", "a-1-1"} {
		if !p.anchors[want] {
			t.Errorf("anchors %v lack %q", p.anchors, want)
		}
	}
	if len(p.anchors) != 4 {
		t.Errorf("anchors = %v, want 4 (the heading in the code block is none)", p.anchors)
	}
}

// TestLinks: every relative link in README.md and docs/*.md names a file or
// directory of the repository, every #anchor a heading of its page, and
// every external link is a well-formed http(s) URL (not fetched).
func TestLinks(t *testing.T) {
	all := pages(t)
	for _, name := range slices.Sorted(maps.Keys(all)) {
		p := all[name]
		for _, l := range p.links {
			if err := check(all, p, l.target); err != nil {
				t.Errorf("%s:%d: link %q: %v", name, l.line, l.target, err)
			}
		}
	}
}

// check reports what is wrong with one link target of p.
func check(all map[string]*page, p *page, target string) error {
	u, err := url.Parse(target)
	if err != nil {
		return err
	}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" || strings.ContainsAny(target, " \t") {
			return errors.New("not a well-formed URL")
		}
		return nil
	case "":
	default:
		return fmt.Errorf("scheme %q: want a relative link or http(s)", u.Scheme)
	}
	if u.Host != "" || strings.HasPrefix(u.Path, "/") {
		return errors.New("want a path relative to the page")
	}
	dest := p.name
	if u.Path != "" {
		dest = path.Join(path.Dir(p.name), u.Path)
		if dest == ".." || strings.HasPrefix(dest, "../") {
			return errors.New("leaves the repository")
		}
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(dest))); err != nil {
			return fmt.Errorf("no such file or directory %s", dest)
		}
	}
	if u.Fragment == "" {
		return nil
	}
	tp, ok := all[dest]
	if !ok {
		if !strings.HasSuffix(dest, ".md") {
			return fmt.Errorf("an anchor into %s, which is not a Markdown page", dest)
		}
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(dest)))
		if err != nil {
			return err
		}
		tp = parse(dest, string(b))
	}
	if !tp.anchors[u.Fragment] {
		return fmt.Errorf("%s has no heading with the anchor #%s", dest, u.Fragment)
	}
	return nil
}

// TestEveryPageLinkedFromReadme: a reader who starts at the README can reach
// every page in docs/ in one click.
func TestEveryPageLinkedFromReadme(t *testing.T) {
	all := pages(t)
	linked := map[string]bool{}
	for _, l := range all["README.md"].links {
		u, err := url.Parse(l.target)
		if err == nil && u.Scheme == "" && u.Path != "" {
			linked[path.Clean(u.Path)] = true
		}
	}
	for name := range all {
		if strings.HasPrefix(name, "docs/") && !linked[name] {
			t.Errorf("README.md does not link to %s", name)
		}
	}
}

// TestReadmeShort: the README is read in five minutes; the rest is in docs/.
func TestReadmeShort(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte("\n")); n > readmeMaxLines {
		t.Errorf("README.md has %d lines, want at most %d: move detail into docs/", n, readmeMaxLines)
	}
}

// TestSettingsTable: docs/operations.md's Configuration section names every
// setting pkg/config reads, and its table lists no setting that does not
// exist.
func TestSettingsTable(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Configuration\n")
	if !ok {
		t.Fatal(`docs/operations.md has no "## Configuration" section`)
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	for _, n := range config.Names() {
		if !strings.Contains(section, "`"+n+"`") {
			t.Errorf("setting %s is not documented in docs/operations.md, Configuration", n)
		}
	}
	known := map[string]bool{}
	for _, n := range config.Names() {
		known[n] = true
	}
	name := regexp.MustCompile("`([A-Z][A-Z0-9_]+)`")
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		first := strings.SplitN(line, "|", 3)[1]
		for _, m := range name.FindAllStringSubmatch(first, -1) {
			if !known[m[1]] {
				t.Errorf("the settings table lists %s, which pkg/config does not read", m[1])
			}
		}
	}
}

// listed is what the package table needs from `go list -json`.
type listed struct {
	ImportPath, Dir, Doc               string
	GoFiles, TestGoFiles, XTestGoFiles []string
	Imports, TestImports, XTestImports []string
	Module                             *struct{ Path string }
	Error                              *struct{ Err string }
}

const (
	tableBegin = "<!-- packages:begin: generated by TestPackageTable (go test ./docs -run TestPackageTable -update); do not edit -->\n"
	tableEnd   = "<!-- packages:end -->\n"
)

// TestPackageTable: docs/design.md's package table is what `go list` says:
// each package of the module, the first sentence of its package doc comment
// and the packages of the module it imports. With -update it rewrites the
// table.
func TestPackageTable(t *testing.T) {
	want, err := packageTable(t)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(root, "docs", "design.md")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	i, j := strings.Index(text, tableBegin), strings.Index(text, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("docs/design.md lacks the markers\n%s%s", tableBegin, tableEnd)
	}
	got := text[i+len(tableBegin) : j]
	if got == want {
		return
	}
	if *update {
		text = text[:i+len(tableBegin)] + want + text[j:]
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("docs/design.md: package table rewritten")
		return
	}
	t.Errorf("docs/design.md's package table differs from the code; run go test ./docs -run TestPackageTable -update, or put this between the markers:\n%s", want)
}

// packageTable renders the package table from `go list -json ./...`.
func packageTable(t *testing.T) (string, error) {
	cmd := exec.CommandContext(t.Context(), "go", "list", "-e",
		"-json=ImportPath,Dir,Doc,GoFiles,TestGoFiles,XTestGoFiles,Imports,TestImports,XTestImports,Module,Error", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list: %w: %s", err, stderr.String())
	}
	var pkgs []listed
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p listed
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return "", err
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 || pkgs[0].Module == nil {
		return "", errors.New("go list: no packages of a module")
	}
	mod := pkgs[0].Module.Path
	groups := []struct {
		title string
		match func(rel string) bool
		rows  []string
	}{
		{title: "Functions: `functions/`", match: func(r string) bool { return strings.HasPrefix(r, "functions/") }},
		{title: "Shipped: `pkg/`", match: func(r string) bool { return strings.HasPrefix(r, "pkg/") && !strings.HasPrefix(r, "pkg/dev/") }},
		{title: "Development: `pkg/dev/`", match: func(r string) bool { return strings.HasPrefix(r, "pkg/dev/") }},
		{title: "Commands and checks: `scripts/`", match: func(r string) bool { return r == "scripts" || strings.HasPrefix(r, "scripts/") }},
		{title: "Suites and other packages", match: func(string) bool { return true }},
	}
	slices.SortFunc(pkgs, func(a, b listed) int { return strings.Compare(a.ImportPath, b.ImportPath) })
	for _, p := range pkgs {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, mod), "/")
		if rel == "" {
			rel = "."
		}
		role, err := role(p)
		if err != nil {
			return "", err
		}
		imports, name := p.Imports, fmt.Sprintf("[`%s`](../%s)", rel, rel)
		if testsOnly(p) {
			imports = append(slices.Clone(p.TestImports), p.XTestImports...)
			name += " (tests)"
		}
		var ours []string
		for _, imp := range imports {
			if r, ok := strings.CutPrefix(imp, mod+"/"); ok && imp != p.ImportPath && !slices.Contains(ours, "`"+r+"`") {
				ours = append(ours, "`"+r+"`")
			}
		}
		slices.Sort(ours)
		row := fmt.Sprintf("| %s | %s | %s |\n", name, cell(role), cmp.Or(strings.Join(ours, ", "), "—"))
		for i := range groups {
			if groups[i].match(rel) {
				groups[i].rows = append(groups[i].rows, row)
				break
			}
		}
	}
	var b strings.Builder
	for _, g := range groups {
		if len(g.rows) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n### %s\n\n| package | role | imports (of this module) |\n|---|---|---|\n", g.title)
		for _, r := range g.rows {
			b.WriteString(r)
		}
	}
	b.WriteString("\n")
	return b.String(), nil
}

// testsOnly tells a package of tests: no Go file but tests, or only a
// doc.go beside them (a suite such as faults/).
func testsOnly(p listed) bool {
	return len(p.GoFiles) == 0 || slices.Equal(p.GoFiles, []string{"doc.go"})
}

// role is the first sentence of p's package doc comment: go list's Doc, or
// for a package of tests only, the doc comment of its test files.
func role(p listed) (string, error) {
	s := p.Doc
	if s == "" {
		fset := token.NewFileSet()
		for _, f := range slices.Concat(p.GoFiles, p.TestGoFiles, p.XTestGoFiles) {
			af, err := parser.ParseFile(fset, filepath.Join(p.Dir, f), nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				return "", err
			}
			if af.Doc != nil {
				s = new(doc.Package).Synopsis(af.Doc.Text())
				break
			}
		}
	}
	if s == "" {
		return "*(no package doc comment)*", nil
	}
	// A first sentence that introduces a list or an example ends in ':'.
	if r, ok := strings.CutSuffix(s, ":"); ok {
		s = r + "."
	}
	return s, nil
}

// cell makes s safe inside a table cell.
func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}
