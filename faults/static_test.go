package faults

import (
	"cmp"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestSecretsOnlyFromEnv greps the repository's non-test Go sources for
// hard-coded Standard Webhooks secrets and AccessKey ids; only the
// printed development fallbacks may hold them.
func TestSecretsOnlyFromEnv(t *testing.T) {
	re := regexp.MustCompile(`whsec_[A-Za-z0-9+/=]{16,}|LTAI[0-9A-Za-z]{8,}`)
	allowed := map[string]bool{"pkg/dev/localstack/dev.go": true}
	var hits []string
	err := filepath.WalkDir(moduleDir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".localstack")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(moduleDir, p)
		if m := re.FindAll(b, -1); len(m) > 0 && !allowed[filepath.ToSlash(rel)] {
			hits = append(hits, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) > 0 {
		t.Errorf("hard-coded secrets outside the dev fallbacks: %v", hits)
	}
}

// TestGovulncheck runs govulncheck (installed through the module proxy)
// against an offline copy of the Go vulnerability database, the directory
// GOVULNCHECK_DB names (.ci/run unpacks its snapshot there and runs the
// same check as a step of its own; GOVULNCHECK_DB_DATE is the snapshot's
// date). A vulnerable imported package fails it, called or not. Without a
// database it skips, except in CI (CI=true), where it fails: CI never
// reports a check it did not run.
func TestGovulncheck(t *testing.T) {
	db := os.Getenv("GOVULNCHECK_DB")
	if db == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("GOVULNCHECK_DB is not set: CI must check against the vulnerability database snapshot (.ci/run sets it)")
		}
		t.Skip("GOVULNCHECK_DB (an unpacked Go vulnerability database) not set: govulncheck NOT run (not a pass)")
	}
	if _, err := os.Stat(filepath.Join(db, "index", "modules.json")); err != nil {
		t.Fatalf("GOVULNCHECK_DB=%s is not a vulnerability database: %v", db, err)
	}
	cmd := exec.Command("go", "run", "golang.org/x/vuln/cmd/govulncheck@v1.9.0", "-db", "file://"+db, "-scan", "package", "./...")
	cmd.Dir = moduleDir
	start := time.Now()
	out, err := cmd.CombinedOutput()
	date := cmp.Or(os.Getenv("GOVULNCHECK_DB_DATE"), "an undated snapshot")
	t.Logf("govulncheck against the database of %s (%v):\n%s", date, time.Since(start).Round(time.Second), out)
	if err != nil {
		t.Fatalf("govulncheck (database of %s): %v", date, err)
	}
}

// TestFuzzInputBoundaries runs, in the full run, the fuzz targets at the
// boundaries where outside input enters (HTTP bodies and headers, queue
// messages, FC events, API requests, chat commands), 30 s each — about
// 4 minutes in all. Their seed corpora are committed under each package's
// testdata/fuzz and run in every ordinary `go test`.
func TestFuzzInputBoundaries(t *testing.T) {
	if !full() {
		t.Skip("fuzzing runs in the full run (-full); the committed seeds run in every go test")
	}
	targets := []struct{ pkg, fn string }{
		{"./pkg/intake", "FuzzHandlerBody"},
		{"./pkg/intake", "FuzzVerify"},
		{"./pkg/nodepool", "FuzzDecodeValidate"},
		{"./pkg/nodepool", "FuzzDecodeRPCForm"},
		{"./pkg/nodepool", "FuzzRedactJSON"},
		{"./pkg/dev/mnssim", "FuzzDecode"},
		{"./pkg/dev/enssim", "FuzzHandler"},
		{"./pkg/fcadapter", "FuzzDecode"},
		{"./pkg/chatops", "FuzzParseCommand"},
		{"./pkg/callback", "FuzzCheckURL"},
		{"./pkg/deadletter", "FuzzParse"},
	}
	for _, tg := range targets {
		t.Run(tg.pkg+"/"+tg.fn, func(t *testing.T) {
			cmd := exec.Command("go", "test", "-run", "^$", "-fuzz", "^"+tg.fn+"$", "-fuzztime", "30s", tg.pkg)
			cmd.Dir = moduleDir
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s %s: %v\n%s", tg.pkg, tg.fn, err, out)
			}
			t.Logf("%s", out)
		})
	}
}

// TestFunctionsLinkNoDevPackage keeps development tooling out of what
// deploys: no package under pkg/dev (simulators, local FC host, local
// stack, bench, test support) may be a dependency of a function binary.
func TestFunctionsLinkNoDevPackage(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "./functions/...")
	cmd.Dir = moduleDir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	const module = "github.com/ensnodepool/webhook/"
	var own, dev []string
	for _, p := range strings.Fields(string(out)) {
		if !strings.HasPrefix(p, module) {
			continue
		}
		own = append(own, p)
		if strings.HasPrefix(p, module+"pkg/dev/") || strings.HasPrefix(p, module+"scripts/") {
			dev = append(dev, p)
		}
	}
	if len(own) < 4 {
		t.Fatalf("go list -deps found only %v: the check would pass vacuously", own)
	}
	if len(dev) > 0 {
		t.Errorf("function binaries link development-only packages: %v", dev)
	}
}
