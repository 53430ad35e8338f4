package faults

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ensnodepool/webhook/pkg/dev/testkit"
)

var fullFlag = flag.Bool("full", false, "run the full fault suite (long); also FAULTS_FULL=1")

// full reports whether the long run was asked for.
func full() bool { return *fullFlag || os.Getenv("FAULTS_FULL") == "1" }

var (
	binDir    string // function binaries and the mnssim binary, built once
	moduleDir string
)

// TestMain builds the function binaries, the MNS service and
// scripts/local once, runs the suite and, if it passed, fails the run when
// a goroutine is left running.
func TestMain(m *testing.M) {
	flag.Parse()
	// Scenarios mostly wait (provisioning, polls, retries): let four
	// stacks run side by side unless -parallel was given.
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", "4")
	}
	d, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	moduleDir = d
	start := time.Now()
	dir, err := build(moduleDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "faults: built the functions, mnssim and scripts/local in %v\n", time.Since(start).Round(time.Millisecond))
	binDir = dir
	testkit.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		os.RemoveAll(dir)
		os.Exit(code)
	}))
}

// build builds the function binaries, scripts/mnssim and scripts/local
// into a new temporary directory and returns it.
func build(moduleDir string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir, err := testkit.BuildBinaries(ctx, moduleDir)
	if err != nil {
		return "", err
	}
	for _, name := range []string{"mnssim", "local"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", filepath.Join(dir, name), "./scripts/"+name)
		cmd.Dir = moduleDir
		if out, err := cmd.CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("build %s: %v\n%s", name, err, out)
		}
	}
	return dir, nil
}
