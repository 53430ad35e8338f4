// Package scripts_test checks the deployment description (s.yaml) against
// the code: the functions it deploys exist, the environment it sets is what
// pkg/config reads, and every function's props pass the fc3 component's own
// JSON schema (devsapp/fc3 src/schema.json, https://github.com/devsapp/fc3;
// CI reads a copy kept beside the repository; the component validates with ajv, allErrors).
package scripts_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/ensnodepool/webhook/pkg/config"
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
	envRef  = regexp.MustCompile(`\$\{env\('([A-Z0-9_]+)'(?:,\s*'([^']*)')?\)\}`)
	varsRef = regexp.MustCompile(`^\$\{vars\.([A-Za-z0-9_]+)\}$`)
)

// resolve substitutes Serverless Devs variables the way `s` would with an
// environment that sets nothing but the defaults in the file (plus a fake
// account id and role so required values are non-empty).
func resolve(t *testing.T, v any, vars map[string]any) any {
	t.Helper()
	switch x := v.(type) {
	case string:
		if m := varsRef.FindStringSubmatch(x); m != nil {
			val, ok := vars[m[1]]
			if !ok {
				t.Fatalf("s.yaml refers to undefined ${vars.%s}", m[1])
			}
			return resolve(t, val, vars)
		}
		return envRef.ReplaceAllStringFunc(x, func(s string) string {
			m := envRef.FindStringSubmatch(s)
			switch m[1] {
			case "ALIBABA_CLOUD_ACCOUNT_ID":
				return "1234567890"
			case "FC_ROLE_ARN":
				return "acs:ram::1234567890:role/ens-nodepool-webhook"
			}
			return m[2]
		})
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = resolve(t, e, vars)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = resolve(t, e, vars)
		}
		return out
	}
	return v
}

func loadSFile(t *testing.T) sFile {
	t.Helper()
	b, err := os.ReadFile("../s.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var f sFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("s.yaml: %v", err)
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
		config.EnvENSEndpoint, config.EnvENSRegion, config.EnvWebhookSecret, config.EnvCallbackSecret, config.EnvSealKeys}
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
