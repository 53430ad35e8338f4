package intake

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/ensnodepool/webhook/pkg/dev/testkit"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestRPCForm: a body in ENS's RPC form (NodepoolInfo, ScalingGroup and
// KubernetesConfig as JSON strings, as the SDKs send them) is accepted as
// the same request as the object form: the same envelope request, and the
// same Idempotency-Key with the object form is a retry (the same digest),
// not a reused key. A broken one is refused with every failing field
// listed (testdata/rpc-form-*.problem.golden; -update rewrites them).
func TestRPCForm(t *testing.T) {
	t.Parallel()
	b := setup(t)
	send := func(body []byte, key string) *http.Response {
		r := post(t, body)
		r.Header.Set("Idempotency-Key", key)
		return b.do(r).Result()
	}
	for i, name := range []string{"ens-doc-values-keypair.rpc.json", "ens-doc-values-keypair.json"} {
		if resp := send(readFile(t, name), "rpc-1"); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("%s (#%d with the key): %d, want 202", name, i+1, resp.StatusCode)
		}
	}
	sent := b.queue.Received(t)
	if len(sent) != 2 {
		t.Fatalf("%d messages queued, want 2", len(sent))
	}
	var reqs [2]*nodepool.Request
	for i, m := range sent {
		env, err := nodepool.Parse([]byte(m))
		if err != nil {
			t.Fatal(err)
		}
		reqs[i] = &env.Request
	}
	a, _ := json.Marshal(reqs[0])
	c, _ := json.Marshal(reqs[1])
	if !bytes.Equal(a, c) {
		t.Errorf("RPC form queued %s\nobject form queued %s", a, c)
	}

	for _, name := range []string{"rpc-form-invalid", "rpc-form-unreadable"} {
		w := b.do(post(t, readFile(t, name+".json")))
		p := mustProblem(t, w, http.StatusBadRequest)
		got, err := json.MarshalIndent(p.Errors, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		testkit.Golden(t, filepath.Join("testdata", name+".problem.golden"), append(got, '\n'), *update)
	}
	if n := len(b.queue.Received(t)); n != 2 {
		t.Errorf("%d messages queued after the refusals, want 2", n)
	}
}
