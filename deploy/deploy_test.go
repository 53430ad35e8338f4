// Package deploy_test checks what deploys against the code: the deployment
// description (s.yaml, s.domain.yaml) — the functions it deploys exist, the
// environment it sets is what pkg/config reads, every function's props
// pass the fc3 component's own JSON schema (devsapp/fc3 src/schema.json,
// https://github.com/devsapp/fc3; CI reads a copy kept beside the
// repository; the component validates with ajv, allErrors) — and the RAM
// policies in ram/ and the script that applies them (ram.sh): each
// function is granted exactly what its code calls.
package deploy_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/queues"
)

// sFile is the part of s.yaml the test reads.
type sFile struct {
	Edition   string                    `yaml:"edition"`
	Vars      map[string]any            `yaml:"vars"`
	Resources map[string]sFileComponent `yaml:"resources"`
}

type sFileComponent struct {
	Component string                         `yaml:"component"`
	Actions   map[string][]map[string]string `yaml:"actions"`
	Props     map[string]any                 `yaml:"props"`
}

var (
	envRef    = regexp.MustCompile(`\$\{env\('([A-Z0-9_]+)'(?:,\s*'([^']*)')?\)\}`)
	configRef = regexp.MustCompile(`\$\{config\('([A-Za-z]+)'\)\}`)
	varsRef   = regexp.MustCompile(`^\$\{vars\.([A-Za-z0-9_]+)\}$`)
	inVarsRef = regexp.MustCompile(`\$\{vars\.([A-Za-z0-9_]+)\}`)
)

// testAccount is the AccountID the tests give the Serverless Devs access.
const testAccount = "1234567890"

// deployEnv is what `s` would see: the shell's variables and the access's
// AccountID ("" for an access without one).
type deployEnv struct {
	vars    map[string]string
	account string
}

// resolve substitutes Serverless Devs variables the way `s` would with an
// environment that sets nothing but the defaults in the file and the
// test account's AccountID.
func resolve(t *testing.T, v any, vars map[string]any) any {
	t.Helper()
	return resolveIn(t, v, vars, deployEnv{account: testAccount})
}

// resolveIn substitutes ${vars.x}, ${env('X'[, 'default'])} and
// ${config('AccountID')} as `s` does in env.
func resolveIn(t *testing.T, v any, vars map[string]any, env deployEnv) any {
	t.Helper()
	switch x := v.(type) {
	case string:
		if m := varsRef.FindStringSubmatch(x); m != nil {
			val, ok := vars[m[1]]
			if !ok {
				t.Fatalf("s.yaml refers to undefined ${vars.%s}", m[1])
			}
			return resolveIn(t, val, vars, env)
		}
		x = inVarsRef.ReplaceAllStringFunc(x, func(s string) string {
			name := inVarsRef.FindStringSubmatch(s)[1]
			val, ok := vars[name].(string)
			if !ok {
				t.Fatalf("s.yaml refers to undefined or non-string ${vars.%s} inside a string", name)
			}
			return resolveIn(t, val, vars, env).(string)
		})
		x = configRef.ReplaceAllStringFunc(x, func(s string) string {
			if k := configRef.FindStringSubmatch(s)[1]; k != "AccountID" {
				t.Fatalf("s.yaml reads config('%s'); an access has AccountID, AccessKeyID, AccessKeySecret", k)
			}
			return env.account
		})
		return envRef.ReplaceAllStringFunc(x, func(s string) string {
			m := envRef.FindStringSubmatch(s)
			if v, ok := env.vars[m[1]]; ok {
				return v
			}
			return m[2]
		})
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = resolveIn(t, e, vars, env)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = resolveIn(t, e, vars, env)
		}
		return out
	}
	return v
}

func loadSFile(t *testing.T) sFile { return loadFile(t, "../s.yaml") }

func loadFile(t *testing.T, path string) sFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f sFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return f
}

func TestSYamlMatchesFunctions(t *testing.T) {
	f := loadSFile(t)
	if f.Edition != "3.0.0" {
		t.Errorf("edition = %q, want 3.0.0", f.Edition)
	}
	dirs, err := filepath.Glob("../functions/*/main.go")
	if err != nil {
		t.Fatal(err)
	}
	var fns []string
	for _, d := range dirs {
		fns = append(fns, filepath.Base(filepath.Dir(d)))
	}
	var res []string
	for name, c := range f.Resources {
		res = append(res, name)
		if c.Component != "fc3" {
			t.Errorf("%s: component %q, want fc3", name, c.Component)
		}
		if c.Props["runtime"] != "go1" || c.Props["handler"] != "main" {
			t.Errorf("%s: runtime %v handler %v, want go1/main", name, c.Props["runtime"], c.Props["handler"])
		}
		if want := "./dist/" + name; c.Props["code"] != want {
			t.Errorf("%s: code %v, want %s", name, c.Props["code"], want)
		}
		build := ""
		for _, a := range c.Actions["pre-deploy"] {
			build += a["run"]
		}
		for _, part := range []string{"GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0", "-o dist/" + name + "/main", "./functions/" + name} {
			if !strings.Contains(build, part) {
				t.Errorf("%s: pre-deploy build %q lacks %q", name, build, part)
			}
		}
	}
	slices.Sort(fns)
	slices.Sort(res)
	if !slices.Equal(fns, res) {
		t.Errorf("s.yaml resources %v, functions/ has %v", res, fns)
	}
	worker := f.Resources["worker"].Props
	cc, _ := worker["concurrencyConfig"].(map[string]any)
	if cc["reservedConcurrency"] != 1 {
		t.Errorf("worker reservedConcurrency = %v, want 1", cc["reservedConcurrency"])
	}
}

func TestSYamlEnvironmentIsWhatTheCodeReads(t *testing.T) {
	f := loadSFile(t)
	known := config.Names()
	needed := []string{config.EnvMNSEndpoint, config.EnvRequestsQueue, config.EnvTrackingQueue, config.EnvDeadLetterQueue,
		config.EnvENSEndpoint, config.EnvENSRegion, config.EnvWebhookSecret, config.EnvCallbackSecret, config.EnvSealKeys,
		config.EnvKMSEndpoint, config.EnvSecretsRefresh, config.EnvPublicURL}
	for name := range f.Resources {
		props := resolve(t, f.Resources[name].Props, f.Vars).(map[string]any)
		env, _ := props["environmentVariables"].(map[string]any)
		for k := range env {
			if !slices.Contains(known, k) {
				t.Errorf("%s sets %s, which no code reads", name, k)
			}
			if k == config.EnvAccessKeyID || k == config.EnvAccessKeySecret {
				t.Errorf("%s sets %s: functions take STS credentials from FC, never static keys", name, k)
			}
		}
		for _, k := range needed {
			if _, ok := env[k]; !ok {
				t.Errorf("%s does not set %s", name, k)
			}
		}
	}
}

func TestSYamlPropsPassTheFC3Schema(t *testing.T) {
	schemaPath, err := filepath.Abs("../../shared/reference/fc3-props.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(schemaPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("fc3 schema must be beside the checkout in CI: %v", err)
		}
		t.Skipf("fc3 schema not beside the checkout: %v", err)
	}
	c := jsonschema.NewCompiler()
	sch, err := c.Compile(schemaPath)
	if err != nil {
		t.Fatalf("compile schema: %v", err)
	}
	f := loadSFile(t)
	for name, comp := range f.Resources {
		props := resolve(t, comp.Props, f.Vars)
		// Round-trip through JSON so numbers and maps have the types the
		// validator expects.
		b, err := json.Marshal(props)
		if err != nil {
			t.Fatal(err)
		}
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(inst); err != nil {
			t.Errorf("%s props fail the fc3 schema: %v", name, err)
		}
	}
}

// TestSYamlPollerTicksDoNotOverlap: the poller's timeout is under its timer
// period, so an invocation always ends before the next tick starts (no two
// ticks drain the tracking queue at once).
func TestSYamlPollerTicksDoNotOverlap(t *testing.T) {
	f := loadSFile(t)
	p := f.Resources["poller"].Props
	timeout, ok := p["timeout"].(int)
	if !ok {
		t.Fatalf("poller timeout = %v, want a number of seconds", p["timeout"])
	}
	triggers, _ := p["triggers"].([]any)
	var periods []time.Duration
	for _, tr := range triggers {
		m, _ := tr.(map[string]any)
		if m["triggerType"] != "timer" {
			continue
		}
		tc, _ := m["triggerConfig"].(map[string]any)
		expr, _ := tc["cronExpression"].(string)
		d, err := time.ParseDuration(strings.TrimPrefix(expr, "@every "))
		if !strings.HasPrefix(expr, "@every ") || err != nil {
			t.Fatalf("poller timer %q: want an @every <duration> expression", expr)
		}
		periods = append(periods, d)
	}
	if len(periods) != 1 {
		t.Fatalf("poller has %d timer triggers, want 1", len(periods))
	}
	if to := time.Duration(timeout) * time.Second; to >= periods[0] {
		t.Errorf("poller timeout %v is not under its timer period %v: ticks could overlap", to, periods[0])
	}
}

// environment resolves a function's environmentVariables for env.
func environment(t *testing.T, f sFile, fn string, env deployEnv) map[string]string {
	t.Helper()
	props := resolveIn(t, f.Resources[fn].Props, f.Vars, env).(map[string]any)
	out := map[string]string{}
	for k, v := range props["environmentVariables"].(map[string]any) {
		out[k] = fmt.Sprint(v)
	}
	return out
}

// TestSYamlRefusesWithoutAccountID: every function's first pre-deploy step
// fails when the access has no AccountID (so nothing is built or deployed
// with an endpoint like https://.mns…) and passes when it has one; every
// account-bound value in the props comes from that AccountID.
func TestSYamlRefusesWithoutAccountID(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh to run the pre-deploy steps")
	}
	f := loadSFile(t)
	for name, c := range f.Resources {
		steps := c.Actions["pre-deploy"]
		if len(steps) < 2 || !strings.Contains(steps[0]["run"], "config('AccountID')") {
			t.Errorf("%s: the first pre-deploy step must check the AccountID, got %v", name, steps)
			continue
		}
		for _, tc := range []struct {
			account string
			ok      bool
		}{{"", false}, {testAccount, true}} {
			run := resolveIn(t, steps[0]["run"], f.Vars, deployEnv{account: tc.account}).(string)
			out, err := exec.Command(sh, "-c", run).CombinedOutput()
			if (err == nil) != tc.ok {
				t.Errorf("%s: guard with AccountID %q: err %v, want ok=%v (%s)", name, tc.account, err, tc.ok, out)
			}
			if !tc.ok && !strings.Contains(string(out), "AccountID") {
				t.Errorf("%s: the refusal %q does not say what is missing", name, out)
			}
		}
		// With the account set, every ARN and the MNS endpoint carry it.
		b, _ := json.Marshal(resolve(t, c.Props, f.Vars))
		for _, m := range regexp.MustCompile(`acs:(ram|mns):[^"]*|https://[^"]*\.mns\.[^"]*`).FindAllString(string(b), -1) {
			if !strings.Contains(m, testAccount) {
				t.Errorf("%s: %s does not carry the account id", name, m)
			}
		}
	}
	if b, _ := os.ReadFile("../s.yaml"); strings.Contains(string(b), "ALIBABA_CLOUD_ACCOUNT_ID") || strings.Contains(string(b), "FC_ROLE_ARN") {
		t.Error("s.yaml still reads the account or the role from a shell variable that may be empty")
	}
}

// TestSYamlRoles: each function runs as its own role, the one
// deploy/ram.sh creates with deploy/ram/<function>-policy.json.
func TestSYamlRoles(t *testing.T) {
	f := loadSFile(t)
	seen := map[string]string{}
	for name, c := range f.Resources {
		props := resolve(t, c.Props, f.Vars).(map[string]any)
		want := "acs:ram::" + testAccount + ":role/ens-nodepool-" + name
		if props["role"] != want {
			t.Errorf("%s: role %v, want %s", name, props["role"], want)
		}
		if other, ok := seen[fmt.Sprint(props["role"])]; ok {
			t.Errorf("%s and %s share a role", name, other)
		}
		seen[fmt.Sprint(props["role"])] = name
		if _, err := os.Stat(filepath.Join("ram", name+"-policy.json")); err != nil {
			t.Errorf("%s: no policy: %v", name, err)
		}
		if props["logConfig"] != "auto" {
			t.Errorf("%s: logConfig %v; the policies grant writing to the auto logstore", name, props["logConfig"])
		}
	}
}

// TestSYamlQueues: the worker's trigger reads the requests queue and puts
// its dead letters into their own queue (not the product's dead-letter
// queue), the names and the consumers' timeouts are pkg/queues' spec.
func TestSYamlQueues(t *testing.T) {
	f := loadSFile(t)
	worker := resolve(t, f.Resources["worker"].Props, f.Vars).(map[string]any)
	env := environment(t, f, "worker", deployEnv{account: testAccount})
	tc := worker["triggers"].([]any)[0].(map[string]any)["triggerConfig"].(map[string]any)
	src := tc["eventSourceConfig"].(map[string]any)["eventSourceParameters"].(map[string]any)["sourceMNSParameters"].(map[string]any)
	if src["QueueName"] != env[config.EnvRequestsQueue] {
		t.Errorf("trigger reads %v, the functions send to %s", src["QueueName"], env[config.EnvRequestsQueue])
	}
	specs := queues.Specs(queues.Names{}, queues.Timeouts{})
	dlq := tc["runOptions"].(map[string]any)["deadLetterQueue"].(map[string]any)["Arn"]
	if want := "acs:mns:cn-hangzhou:" + testAccount + ":/queues/" + specs[3].Name; dlq != want {
		t.Errorf("trigger dead letters go to %v, want %s", dlq, want)
	}
	if strings.HasSuffix(fmt.Sprint(dlq), "/"+env[config.EnvDeadLetterQueue]) {
		t.Error("the trigger's raw dead letters share the product's dead-letter queue")
	}
	for i, q := range []string{config.EnvRequestsQueue, config.EnvTrackingQueue, config.EnvDeadLetterQueue} {
		if env[q] != specs[i].Name {
			t.Errorf("%s = %s, pkg/queues creates %s", q, env[q], specs[i].Name)
		}
	}
	for fn, want := range map[string]time.Duration{"worker": queues.DefaultWorkerTimeout, "poller": queues.DefaultPollerTimeout} {
		if got := f.Resources[fn].Props["timeout"]; got != int(want.Seconds()) {
			t.Errorf("%s timeout %v s; pkg/queues derives the visibility timeout from %v", fn, got, want)
		}
	}
}

// TestSYamlEnvironmentParses: with every secret setting pointing at KMS
// the environment s.yaml sets is accepted by pkg/config, KMS is reached in
// the functions' region, and PUBLIC_URL follows CUSTOM_DOMAIN.
func TestSYamlEnvironmentParses(t *testing.T) {
	f := loadSFile(t)
	shell := map[string]string{"FC_REGION": "cn-shanghai", "CUSTOM_DOMAIN": "hooks.example.com"}
	for _, k := range config.SecretSettings() {
		shell[k] = "kms:ens-nodepool/" + strings.ToLower(k)
	}
	shell[config.EnvFeishuAppID] = "cli_x"
	for name := range f.Resources {
		env := environment(t, f, name, deployEnv{vars: shell, account: testAccount})
		get := func(k string) string { return env[k] }
		src, err := config.SecretsFromEnv(get)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(src.Refs) != len(config.SecretSettings()) || src.KMSEndpoint != "kms.cn-shanghai.aliyuncs.com" || src.KMSProtocol != "HTTPS" {
			t.Errorf("%s: secrets %+v", name, src)
		}
		s, err := config.FromEnv(get)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if s.PublicURL != "https://hooks.example.com" || s.MNSEndpoint != "https://"+testAccount+".mns.cn-shanghai.aliyuncs.com" {
			t.Errorf("%s: PUBLIC_URL %q MNS %q", name, s.PublicURL, s.MNSEndpoint)
		}
		plain := environment(t, f, name, deployEnv{account: testAccount})
		if s, err := config.FromEnv(func(k string) string { return plain[k] }); err != nil || s.PublicURL != "" {
			t.Errorf("%s: without CUSTOM_DOMAIN PUBLIC_URL is %q (%v), want unset", name, s.PublicURL, err)
		}
	}
}

// TestSDomainYaml: the optional custom domain routes every path to the
// webhook function of s.yaml over HTTPS, on the CUSTOM_DOMAIN that s.yaml
// derives PUBLIC_URL from.
func TestSDomainYaml(t *testing.T) {
	d := loadFile(t, "../s.domain.yaml")
	f := loadSFile(t)
	if d.Edition != "3.0.0" || len(d.Resources) != 1 {
		t.Fatalf("s.domain.yaml: edition %s, %d resources", d.Edition, len(d.Resources))
	}
	c := d.Resources["domain"]
	if c.Component != "fc3-domain" {
		t.Errorf("component %q, want fc3-domain", c.Component)
	}
	props := resolveIn(t, c.Props, d.Vars, deployEnv{vars: map[string]string{"CUSTOM_DOMAIN": "hooks.example.com"}}).(map[string]any)
	if props["domainName"] != "hooks.example.com" || props["protocol"] != "HTTPS" {
		t.Errorf("domainName %v protocol %v", props["domainName"], props["protocol"])
	}
	routes := props["routeConfig"].(map[string]any)["routes"].([]any)
	r := routes[0].(map[string]any)
	if len(routes) != 1 || r["path"] != "/*" || r["functionName"] != f.Resources["webhook"].Props["functionName"] {
		t.Errorf("routes %v, want /* to %v", routes, f.Resources["webhook"].Props["functionName"])
	}
}

// TestRAMScript runs deploy/ram.sh against a stand-in for the aliyun CLI
// that records its arguments: create makes each role with the FC trust
// policy and its own policy document, update replaces the default policy
// version, delete removes everything in order.
func TestRAMScript(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	dir := t.TempDir()
	logPath := filepath.Join(dir, "calls")
	fake := filepath.Join(dir, "aliyun")
	script := "#!/bin/sh\nprintf '%s' \"$*\" | tr '\\n' ' ' >> " + logPath + "\necho >> " + logPath + "\n" +
		"case \"$2\" in GetPolicy) printf '{\\n  \"Policy\": {\\n    \"DefaultVersion\": \"v3\"\\n  }\\n}\\n';; esac\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(arg string) []string {
		t.Helper()
		os.Remove(logPath)
		cmd := exec.Command(bash, "ram.sh", arg)
		cmd.Env = append(os.Environ(), "ALIYUN_CLI="+fake)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ram.sh %s: %v\n%s", arg, err, out)
		}
		b, _ := os.ReadFile(logPath)
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	doc := func(name string) string {
		b, err := os.ReadFile(filepath.Join("ram", name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", " ") // the recorder joins arguments
	}
	flat := func(s string) string { return strings.ReplaceAll(s, "\n", " ") }
	calls := run("create")
	if len(calls) != 9 {
		t.Fatalf("create made %d calls:\n%s", len(calls), strings.Join(calls, "\n"))
	}
	for i, fn := range []string{"webhook", "worker", "poller"} {
		role, pol, att := flat(calls[3*i]), flat(calls[3*i+1]), calls[3*i+2]
		name := "ens-nodepool-" + fn
		if !strings.HasPrefix(role, "ram CreateRole --RoleName "+name+" ") || !strings.HasSuffix(role, doc("fc-trust-policy.json")) {
			t.Errorf("CreateRole: %s", role)
		}
		if !strings.HasPrefix(pol, "ram CreatePolicy --PolicyName "+name+" ") || !strings.HasSuffix(pol, doc(fn+"-policy.json")) {
			t.Errorf("CreatePolicy: %s", pol)
		}
		if att != "ram AttachPolicyToRole --PolicyType Custom --PolicyName "+name+" --RoleName "+name {
			t.Errorf("AttachPolicyToRole: %s", att)
		}
	}
	upd := strings.Join(run("update"), "\n")
	for _, want := range []string{"ram CreatePolicyVersion --PolicyName ens-nodepool-worker --PolicyDocument", "--SetAsDefault true",
		"ram DeletePolicyVersion --PolicyName ens-nodepool-worker --VersionId v3"} {
		if !strings.Contains(upd, want) {
			t.Errorf("update lacks %q:\n%s", want, upd)
		}
	}
	del := run("delete")
	want := []string{}
	for _, fn := range []string{"webhook", "worker", "poller"} {
		n := "ens-nodepool-" + fn
		want = append(want, "ram DetachPolicyFromRole --PolicyType Custom --PolicyName "+n+" --RoleName "+n,
			"ram DeletePolicy --PolicyName "+n, "ram DeleteRole --RoleName "+n)
	}
	if !slices.Equal(del, want) {
		t.Errorf("delete calls:\n%s\nwant:\n%s", strings.Join(del, "\n"), strings.Join(want, "\n"))
	}
}
