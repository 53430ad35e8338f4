package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ensnodepool/webhook/pkg/caller"
)

// TestParseCallers: inline JSON is recognised with or without a byte order
// mark, as a list or an object (refused: "want a list"); anything else is
// a path, read without its byte order mark; no error holds the value or
// the path.
func TestParseCallers(t *testing.T) {
	t.Parallel()
	const sec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwAAAAAAAAAAA="
	list := `[{"Id":"a","Clusters":["*"],"Secrets":["` + sec + `"]}]`
	if s, err := ParseCallers("  "); s != nil || err != nil {
		t.Errorf("empty: %v %v", s, err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "callers.json")
	if err := os.WriteFile(file, []byte("\uFEFF"+list), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"inline": list, "inline after a BOM": "\uFEFF " + list, "file with a BOM": file} {
		if s, err := ParseCallers(v); err != nil || len(s.Callers()) != 1 {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, v := range map[string]string{
		"absent file":         filepath.Join(dir, "absent-"+sec[6:14]+".json"),
		"an object":           strings.Trim(list, "[]"),
		"an object, BOM":      "\uFEFF" + strings.Trim(list, "[]"),
		"mangled inline JSON": `'` + list + `'`,
	} {
		_, err := ParseCallers(v)
		if err == nil || !strings.HasPrefix(err.Error(), "CALLERS: ") {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if strings.Contains(err.Error(), sec[6:14]) || strings.Contains(err.Error(), dir) {
			t.Errorf("%s: the error holds the value: %v", name, err)
		}
		if strings.Contains(name, "object") && (!errors.Is(err, caller.ErrConfig) || !strings.Contains(err.Error(), "want a list")) {
			t.Errorf("%s: %v, want a list", name, err)
		}
	}
}
