package faults

import (
	"cmp"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
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

// ramFunctions maps each function to the code it runs: its main package
// and the shipped packages it wires. Its RAM policy
// (deploy/ram/<function>-policy.json) must grant exactly what that code
// calls.
var ramFunctions = map[string][]string{
	"webhook": {"functions/webhook", "pkg/intake", "pkg/chatops", "pkg/nodepool", "pkg/fcapp"},
	"worker":  {"functions/worker", "pkg/worker", "pkg/nodepool", "pkg/fcapp"},
	"poller":  {"functions/poller", "pkg/poller", "pkg/fcapp"},
}

// codeCalls scans dirs for calls whose method name is in one of the
// maps, and for the queue settings they read, and returns the RAM
// actions needed and the settings' names.
func codeCalls(t *testing.T, dirs []string) (actions map[string]bool, queues map[string]bool) {
	t.Helper()
	ensMethods := map[string]string{"CreateClusterNodePool": "ens:CreateClusterNodePool", "DescribeClusterNodePools": "ens:DescribeClusterNodePools",
		"DescribeClusterDetail": "ens:DescribeClusterDetail", "DescribeClustersV1": "ens:DescribeClustersV1",
		"ScaleClusterNodePool": "ens:ScaleClusterNodePool", "DeleteClusterNodePool": "ens:DeleteClusterNodePool"}
	// pkg/mns method → MNS API it calls (Receive asks for up to 16: batch).
	queueMethods := map[string][]string{"Send": {"mns:SendMessage"}, "SendBatch": {"mns:BatchSendMessage"},
		"Receive": {"mns:ReceiveMessage", "mns:BatchReceiveMessage"}, "Delete": {"mns:DeleteMessage"},
		"DeleteBatch": {"mns:BatchDeleteMessage"}, "ChangeVisibility": {"mns:ChangeMessageVisibility"},
		"Attributes": {"mns:GetQueueAttributes"}, "EnsureQueue": {"mns:CreateQueue"}}
	queueSettings := map[string]bool{"RequestsQueue": true, "TrackingQueue": true, "DeadLetterQueue": true}
	actions, queues = map[string]bool{}, map[string]bool{}
	fset := token.NewFileSet()
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join(moduleDir, dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(fset, f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			// Package-qualified calls (slices.Delete, maps.Delete…) are
			// not method calls on a client.
			imported := map[string]bool{}
			for _, im := range af.Imports {
				p := strings.Trim(im.Path.Value, `"`)
				name := p[strings.LastIndex(p, "/")+1:]
				if im.Name != nil {
					name = im.Name.Name
				}
				imported[name] = true
			}
			ast.Inspect(af, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok && queueSettings[sel.Sel.Name] {
					queues[sel.Sel.Name] = true
				}
				if c, ok := n.(*ast.CallExpr); ok {
					if sel, ok := c.Fun.(*ast.SelectorExpr); ok {
						if id, ok := sel.X.(*ast.Ident); ok && imported[id.Name] {
							return true
						}
						if a, ok := ensMethods[sel.Sel.Name]; ok {
							actions[a] = true
						}
						for _, a := range queueMethods[sel.Sel.Name] {
							actions[a] = true
						}
					}
				}
				return true
			})
		}
	}
	return actions, queues
}

// ramPolicy is a RAM policy document.
type ramPolicy struct {
	Version   string
	Statement []struct {
		Effect    string
		Action    []string
		Resource  []string
		Principal struct{ Service []string }
	}
}

func readPolicy(t *testing.T, name string) ramPolicy {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(moduleDir, "deploy", "ram", name))
	if err != nil {
		t.Fatal(err)
	}
	var p ramPolicy
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.DisallowUnknownFields()
	if err := d.Decode(&p); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if p.Version != "1" {
		t.Errorf("%s: Version %q, want 1", name, p.Version)
	}
	return p
}

// TestRAMPolicy checks each function's policy in deploy/ram/ against the
// calls its code makes: ENS actions are the pkg/ens methods called
// (method name = action name), MNS actions follow from the pkg/mns methods
// called and are granted only on the queues the function's code names;
// every function may read the product's KMS secrets and write its logs
// (logConfig: auto), nothing else. Every role trusts Function Compute
// only, and s.yaml gives each function its own role.
func TestRAMPolicy(t *testing.T) {
	queueNames := map[string]string{"RequestsQueue": "nodepool-requests", "TrackingQueue": "nodepool-tracking", "DeadLetterQueue": "nodepool-deadletter"}
	const (
		kmsResource = "acs:kms:*:*:secret/ens-nodepool/*"
		logResource = "acs:log:*:*:project/*/logstore/function-logstore"
	)
	for fn, dirs := range ramFunctions {
		t.Run(fn, func(t *testing.T) {
			need, queues := codeCalls(t, dirs)
			need["kms:GetSecretValue"] = true
			need["log:PostLogStoreLogs"] = true
			var wantQueues []string
			for q := range queues {
				wantQueues = append(wantQueues, "acs:mns:*:*:/queues/"+queueNames[q]+"/messages")
			}
			slices.Sort(wantQueues)
			pol := readPolicy(t, fn+"-policy.json")
			have := map[string]bool{}
			for _, st := range pol.Statement {
				if st.Effect != "Allow" {
					t.Errorf("statement effect %q", st.Effect)
				}
				res := slices.Sorted(slices.Values(st.Resource))
				for _, a := range st.Action {
					if strings.Contains(a, "*") {
						t.Errorf("wildcard action %q", a)
					}
					have[a] = true
					switch service, _, _ := strings.Cut(a, ":"); service {
					case "mns":
						if !slices.Equal(res, wantQueues) {
							t.Errorf("%s on %v, want exactly the queues the code uses %v", a, res, wantQueues)
						}
					case "kms":
						if !slices.Equal(res, []string{kmsResource}) {
							t.Errorf("%s on %v, want %s", a, res, kmsResource)
						}
					case "log":
						if !slices.Equal(res, []string{logResource}) {
							t.Errorf("%s on %v, want %s", a, res, logResource)
						}
					case "ens":
						if !slices.Equal(res, []string{"*"}) {
							t.Errorf("%s on %v: ENS node pool actions take no resource ARNs, want *", a, res)
						}
					default:
						t.Errorf("action %s of an unexpected service", a)
					}
				}
			}
			var missing, extra []string
			for a := range need {
				if !have[a] {
					missing = append(missing, a)
				}
			}
			for a := range have {
				if !need[a] {
					extra = append(extra, a)
				}
			}
			slices.Sort(missing)
			slices.Sort(extra)
			if len(missing)+len(extra) > 0 {
				t.Errorf("policy vs code: missing %v, not used by the code %v", missing, extra)
			}
		})
	}
	trust := readPolicy(t, "fc-trust-policy.json")
	if len(trust.Statement) != 1 || !slices.Equal(trust.Statement[0].Action, []string{"sts:AssumeRole"}) ||
		!slices.Equal(trust.Statement[0].Principal.Service, []string{"fc.aliyuncs.com"}) || trust.Statement[0].Effect != "Allow" {
		t.Errorf("trust policy %+v: want Function Compute (fc.aliyuncs.com) to assume the role, nothing else", trust)
	}
	y, err := os.ReadFile(filepath.Join(moduleDir, "s.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for fn := range ramFunctions {
		if !strings.Contains(string(y), "role/ens-nodepool-"+fn) {
			t.Errorf("s.yaml does not give %s its role ens-nodepool-%s", fn, fn)
		}
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
