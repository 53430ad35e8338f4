package worker_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ensnodepool/webhook/pkg/worker"
)

func TestRedact(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, want string }{
		{"json", `{"A":1,"ScalingGroup":{"Password":"p@ss\"w0rd","KeyPairName":"k"}}`, `{"A":1,"ScalingGroup":{"Password":"******","KeyPairName":"k"}}`},
		{"any case and number", `{"password":12345678,"PASSWORD":null}`, `{"password":"******","PASSWORD":"******"}`},
		{"sealed kept", `{"SealedPassword":"v1.k1.abc"}`, `{"SealedPassword":"v1.k1.abc"}`},
		{"json in a string", `{"messageBody":"{\"Password\":\"secret-1\"}"}`, `{"messageBody":"{\"Password\":\"******\"}"}`},
		{"not json", `oops {"Password": "secret-2", `, `oops {"Password": "******", `},
		{"escaped not json", `x \"Password\":\"secret-3\" y`, `x \"Password\":\"******\" y`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := worker.Redact(tc.in); got != tc.want {
				t.Errorf("Redact(%s) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzRedact(f *testing.F) {
	f.Add(`{"Password":"secret-x"}`)
	f.Add(`[{"a":{"password":"secret-x"}}]`)
	f.Add(`"{\"Password\":\"secret-x\"}"`)
	// Redact never panics, keeps valid JSON valid, and a top-level
	// password member never survives.
	f.Fuzz(func(t *testing.T, in string) {
		out := worker.Redact(in)
		if json.Valid([]byte(in)) && !json.Valid([]byte(out)) {
			t.Errorf("Redact(%q) = %q is not JSON", in, out)
		}
		var m map[string]any
		if json.Unmarshal([]byte(out), &m) == nil {
			for k, v := range m {
				if strings.EqualFold(k, "password") && v != "******" {
					t.Errorf("Redact(%q) = %q keeps %s", in, out, k)
				}
			}
		}
	})
}
