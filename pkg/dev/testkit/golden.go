package testkit

import (
	"os"
	"path/filepath"
	"testing"
)

// Golden compares got with the golden file at path, or (update: the
// package's -update flag) rewrites the file with it first. A difference
// fails the test with got in full and how to accept it.
func Golden(tb testing.TB, path string, got []byte, update bool) {
	tb.Helper()
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run the test with -update to create it)", err)
	}
	if string(got) != string(want) {
		tb.Errorf("output differs from %s (run the test with -update after checking the difference):\n%s", path, got)
	}
}
