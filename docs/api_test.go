package docs_test

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ensnodepool/webhook/api"
)

// The API tables of docs/api.md and docs/callbacks.md are checked against
// the OpenAPI document (api/openapi.yaml), so the pages cannot promise a
// status, a problem code, a callback error code or a header the document
// does not describe, nor leave one out.

// openapiDoc is the document as plain JSON values.
func openapiDoc(t *testing.T) map[string]any {
	t.Helper()
	b, err := api.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// at follows a JSON pointer ("#/a/b") in doc, resolving a "$ref" met on
// the way; nil when it leads nowhere.
func at(doc map[string]any, pointer string) any { return walk(doc, doc, pointer) }

// walk follows pointer from node, resolving references in doc.
func walk(doc map[string]any, node any, pointer string) any {
	for _, tok := range strings.Split(strings.TrimPrefix(pointer, "#/"), "/") {
		switch n := deref(doc, node).(type) {
		case map[string]any:
			node = n[strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(n) {
				return nil
			}
			node = n[i]
		default:
			return nil
		}
	}
	return deref(doc, node)
}

// deref resolves node when it is a reference alone, {"$ref": "#/…"} (a
// schema's "$ref" beside other keywords is one of its constraints).
func deref(doc map[string]any, node any) any {
	if m, ok := node.(map[string]any); ok && len(m) == 1 {
		if ref, ok := m["$ref"].(string); ok && strings.HasPrefix(ref, "#/") {
			return at(doc, ref)
		}
	}
	return node
}

func strList(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, x := range l {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

// table is a Markdown table: its header cells and its rows' cells.
type table struct {
	header []string
	rows   [][]string
}

// column returns the cells of the column named name (header as written).
func (tb table) column(t *testing.T, name string) []string {
	t.Helper()
	i := slices.Index(tb.header, name)
	if i < 0 {
		t.Fatalf("table %v has no column %q", tb.header, name)
	}
	out := make([]string, len(tb.rows))
	for r, row := range tb.rows {
		if i < len(row) {
			out[r] = row[i]
		}
	}
	return out
}

// readTable returns the first table after the line holding marker in the
// docs page name (cells trimmed; a "|" inside `code` does not split).
func readTable(t *testing.T, name, marker string) table {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), marker)
	if !ok {
		t.Fatalf("%s: no %q", name, marker)
	}
	var tb table
	for _, line := range strings.Split(rest, "\n")[1:] {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			if tb.header != nil {
				break
			}
			continue
		}
		cells := splitRow(line)
		switch {
		case tb.header == nil:
			tb.header = cells
		case strings.Trim(line, "|-: ") == "":
		default:
			tb.rows = append(tb.rows, cells)
		}
	}
	if len(tb.rows) == 0 {
		t.Fatalf("%s: no table after %q", name, marker)
	}
	return tb
}

// splitRow splits "| a | `b|c` |" into ["a", "`b|c`"].
func splitRow(line string) []string {
	var cells []string
	var cur strings.Builder
	inCode := false
	for _, r := range strings.Trim(line, "|") {
		switch {
		case r == '`':
			inCode = !inCode
		case r == '|' && !inCode:
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
			continue
		}
		cur.WriteRune(r)
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

var codeSpan = regexp.MustCompile("`([^`]+)`")

// spans returns the `code spans` of a cell.
func spans(cell string) []string {
	var out []string
	for _, m := range codeSpan.FindAllStringSubmatch(cell, -1) {
		out = append(out, m[1])
	}
	return out
}

// operationAnswers returns "<status> <code>" for every response of the
// operation the document serves (not x-planned): one per problem code
// served (not in ProblemCode's x-planned), or "<status> —" for a response
// without one.
func operationAnswers(t *testing.T, doc map[string]any, method, path string) []string {
	t.Helper()
	op, _ := at(doc, "#/paths/"+strings.NewReplacer("~", "~0", "/", "~1").Replace(path)+"/"+strings.ToLower(method)).(map[string]any)
	if op == nil {
		t.Fatalf("the document has no %s %s", method, path)
	}
	planned := strList(at(doc, "#/components/schemas/ProblemCode/x-planned"))
	var out []string
	for status, r := range op["responses"].(map[string]any) {
		resp, _ := deref(doc, r).(map[string]any)
		if resp["x-planned"] == true {
			continue
		}
		props, _ := walk(doc, resp, "#/content/application~1problem+json/schema/properties").(map[string]any)
		code, _ := props["code"].(map[string]any)
		codes := strList(code["enum"])
		if c, ok := code["const"].(string); ok {
			codes = append(codes, c)
		}
		if len(codes) == 0 {
			codes = []string{"—"}
		}
		for _, c := range codes {
			if !slices.Contains(planned, c) {
				out = append(out, status+" "+c)
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestAPITablesMatchDocument: each answers table of docs/api.md, marked
// "<!-- openapi: METHOD PATH -->", lists exactly the statuses and problem
// codes the document gives that operation (not those marked x-planned);
// a row's codes are the `code spans` of its code column, "—" for none.
func TestAPITablesMatchDocument(t *testing.T) {
	doc := openapiDoc(t)
	b, err := os.ReadFile(filepath.Join(root, "docs", "api.md"))
	if err != nil {
		t.Fatal(err)
	}
	markers := regexp.MustCompile(`<!-- openapi: (\S+) (\S+) -->`).FindAllStringSubmatch(string(b), -1)
	if len(markers) < 2 {
		t.Fatalf("docs/api.md marks %d answers tables, want the create and the status read", len(markers))
	}
	for _, m := range markers {
		tb := readTable(t, "docs/api.md", m[0])
		var listed []string
		codes := tb.column(t, "code")
		for i, status := range tb.column(t, "status") {
			cs := spans(codes[i])
			if strings.TrimSpace(codes[i]) == "—" {
				cs = []string{"—"}
			}
			if _, err := strconv.Atoi(status); err != nil || len(cs) == 0 {
				t.Errorf("docs/api.md %s %s: row %q: want a status and a code (or —)", m[1], m[2], tb.rows[i])
			}
			for _, c := range cs {
				listed = append(listed, status+" "+c)
			}
		}
		slices.Sort(listed)
		if want := operationAnswers(t, doc, m[1], m[2]); !slices.Equal(listed, want) {
			t.Errorf("docs/api.md %s %s answers:\n  listed       %q\n  the document %q", m[1], m[2], listed, want)
		}
	}
}

// TestCallbackTablesMatchDocument: docs/callbacks.md's error codes are the
// document's ServiceErrorCode, in its order, each with the event the
// document allows it on (nodepool.timeout carries NodepoolTimeout only);
// its headers table names the headers of every webhook (the security
// schemes' and header parameters, and Content-Type); its answers table
// covers the webhooks' responses (2XX, 410, the rest as default).
func TestCallbackTablesMatchDocument(t *testing.T) {
	doc := openapiDoc(t)
	codes := readTable(t, "docs/callbacks.md", "## Error codes")
	listed := codes.column(t, "Code")
	for i, c := range listed {
		listed[i] = strings.Trim(c, "`")
	}
	if want := strList(at(doc, "#/components/schemas/ServiceErrorCode/enum")); !slices.Equal(listed, want) {
		t.Errorf("docs/callbacks.md error codes = %q\nServiceErrorCode           = %q", listed, want)
	}
	timeout, _ := at(doc, "#/components/schemas/TimeoutEventData/allOf/2/properties/Error/properties/Code/const").(string)
	for i, event := range codes.column(t, "event") {
		if want := map[bool]string{true: "timeout", false: "failed"}[listed[i] == timeout]; event != want {
			t.Errorf("docs/callbacks.md: %s on %q, the document allows it on nodepool.%s", listed[i], event, want)
		}
	}

	var headers []string
	for _, cell := range readTable(t, "docs/callbacks.md", "## Headers and verification").column(t, "header") {
		for _, h := range spans(cell) {
			headers = append(headers, strings.ToLower(h))
		}
	}
	slices.Sort(headers)
	for typ, item := range doc["webhooks"].(map[string]any) {
		post, _ := item.(map[string]any)["post"].(map[string]any)
		want := map[string]bool{"content-type": true}
		for _, req := range post["security"].([]any) {
			for scheme := range req.(map[string]any) {
				name, _ := at(doc, "#/components/securitySchemes/"+scheme+"/name").(string)
				want[strings.ToLower(name)] = true
			}
		}
		for _, p := range post["parameters"].([]any) {
			if p, _ := deref(doc, p).(map[string]any); p["in"] == "header" {
				want[strings.ToLower(p["name"].(string))] = true
			}
		}
		if w := slices.Sorted(maps.Keys(want)); !slices.Equal(headers, w) {
			t.Errorf("docs/callbacks.md headers = %q\nwebhook %s sends %q", headers, typ, w)
		}
		var answers []string
		for _, cell := range readTable(t, "docs/callbacks.md", "## Your answer and the retries").column(t, "your answer") {
			switch a := strings.Fields(cell)[0]; a {
			case "2xx", "410":
				answers = append(answers, strings.ToUpper(a))
			default:
				answers = append(answers, "default")
			}
		}
		for status := range post["responses"].(map[string]any) {
			if !slices.Contains(answers, status) {
				t.Errorf("docs/callbacks.md: the answers table lacks the webhook %s response %s", typ, status)
			}
		}
		for _, a := range answers {
			if post["responses"].(map[string]any)[a] == nil {
				t.Errorf("docs/callbacks.md: answer %s is no response of webhook %s", a, typ)
			}
		}
	}
}
