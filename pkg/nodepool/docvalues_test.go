package nodepool

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestDocumentValues: bodies built from CreateClusterNodePool's documented
// example values — with KeyPairName, with Password, and with only the
// parameters the document marks required — pass every rule, and the ENS
// input built from them (testdata/*.ens.golden) carries exactly what the
// body states: an optional parameter left out is not sent, so ENS applies
// its own default.
func TestDocumentValues(t *testing.T) {
	t.Parallel()
	v := NewValidator(ValidationConfig{})
	for _, name := range []string{"ens-doc-values-keypair", "ens-doc-values-password", "ens-doc-required-only"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := mustDecode(t, name+".json")
			if err := v.Validate(r); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			got, err := json.MarshalIndent(r.ENS(), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", name+".ens.golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if want := mustRead(t, name+".ens.golden"); !bytes.Equal(got, want) {
				t.Errorf("ENS input differs from %s (go test -update to rewrite)\ngot:\n%s", golden, got)
			}
			// Every member of the body's ScalingGroup reaches ENS, and no other.
			var body, sent struct{ ScalingGroup map[string]any }
			if err := json.Unmarshal(mustRead(t, name+".json"), &body); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(got, &sent); err != nil {
				t.Fatal(err)
			}
			if len(body.ScalingGroup) != len(sent.ScalingGroup) {
				t.Errorf("ScalingGroup members: body %d, sent %d", len(body.ScalingGroup), len(sent.ScalingGroup))
			}
			for k := range body.ScalingGroup {
				if _, ok := sent.ScalingGroup[k]; !ok {
					t.Errorf("ScalingGroup.%s is not sent", k)
				}
			}
		})
	}
}
