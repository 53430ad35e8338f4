package fclocal

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

// echoBinary is testdata/echo built once for the whole package.
var echoBinary string

// TestMain builds testdata/echo, runs the tests and fails the run if one
// leaves a goroutine running.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fclocal-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	echoBinary = filepath.Join(dir, "main")
	build := exec.Command("go", "build", "-o", echoBinary, "./testdata/echo")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building testdata/echo:", err)
		os.Exit(1)
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}
