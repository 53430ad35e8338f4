package callback_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ensnodepool/webhook/pkg/callback"
)

// TestReadmeErrorCodes: the "Error codes" table of docs/callbacks.md lists
// exactly callback.Codes, in order.
func TestReadmeErrorCodes(t *testing.T) {
	b, err := os.ReadFile("../../docs/callbacks.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Error codes\n")
	if !ok {
		t.Fatal(`docs/callbacks.md has no "## Error codes" section`)
	}
	row := regexp.MustCompile("(?m)^\\| `([^`]+)` \\|")
	var listed []string
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "#") || (line == "" && len(listed) > 0) {
			break // the table ended
		}
		if m := row.FindStringSubmatch(line); m != nil {
			listed = append(listed, m[1])
		}
	}
	if !slices.Equal(listed, callback.Codes) {
		t.Errorf("docs/callbacks.md error codes = %q\ncallback.Codes                = %q", listed, callback.Codes)
	}
}

// TestCodesDeclaredOnce: no shipped package writes an error code as a
// string literal into an ErrorInfo, and every string constant named Code*
// in the packages that produce events is one of callback.Codes — so a new
// code cannot reach a callback without being in the list (and the docs).
func TestCodesDeclaredOnce(t *testing.T) {
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "dev" {
			return fs.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		producer := slices.Contains([]string{"worker", "poller", "callback"}, f.Name.Name)
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CompositeLit:
				if !isErrorInfo(n.Type) {
					return true
				}
				for _, e := range n.Elts {
					if kv, ok := e.(*ast.KeyValueExpr); ok && isIdent(kv.Key, "Code") {
						if _, lit := kv.Value.(*ast.BasicLit); lit {
							t.Errorf("%s: ErrorInfo with a literal Code: declare it in pkg/callback/codes.go", fset.Position(kv.Pos()))
						}
					}
				}
			case *ast.ValueSpec:
				if !producer {
					return true
				}
				for i, name := range n.Names {
					if !strings.HasPrefix(name.Name, "Code") || i >= len(n.Values) {
						continue
					}
					if lit, ok := n.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						v, _ := strconv.Unquote(lit.Value)
						if !slices.Contains(callback.Codes, v) {
							t.Errorf("%s: %s = %q is not in callback.Codes", fset.Position(name.Pos()), name.Name, v)
						}
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func isErrorInfo(e ast.Expr) bool {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name == "ErrorInfo"
	case *ast.SelectorExpr:
		return e.Sel.Name == "ErrorInfo"
	}
	return false
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}
