package deploy_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// ramFunctions maps each function to the code it runs: its main package
// and the shipped packages it wires. Its RAM policy
// (deploy/ram/<function>-policy.json) must grant exactly what that code
// calls.
var ramFunctions = map[string][]string{
	"webhook": {"functions/webhook", "pkg/intake", "pkg/chatops", "pkg/admission", "pkg/nodepool", "pkg/fcapp"},
	"worker":  {"functions/worker", "pkg/worker", "pkg/admission", "pkg/nodepool", "pkg/fcapp"},
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
		files, _ := filepath.Glob(filepath.Join("..", dir, "*.go"))
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
	b, err := os.ReadFile(filepath.Join("ram", name))
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
	y, err := os.ReadFile(filepath.Join("..", "s.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for fn := range ramFunctions {
		if !strings.Contains(string(y), "role/ens-nodepool-"+fn) {
			t.Errorf("s.yaml does not give %s its role ens-nodepool-%s", fn, fn)
		}
	}
}

// TestWebhookReadsENSOnly: the webhook — which serves status reads and
// dry runs (POST /v1/nodepools?dryRun=true) — may only describe node
// pools; creating them is the worker's alone, so no request to the
// webhook can create one.
func TestWebhookReadsENSOnly(t *testing.T) {
	var ensActions []string
	for _, st := range readPolicy(t, "webhook-policy.json").Statement {
		for _, a := range st.Action {
			if strings.HasPrefix(a, "ens:") {
				ensActions = append(ensActions, a)
			}
		}
	}
	if !slices.Equal(ensActions, []string{"ens:DescribeClusterNodePools"}) {
		t.Errorf("the webhook's ENS actions are %v, want only ens:DescribeClusterNodePools", ensActions)
	}
}
