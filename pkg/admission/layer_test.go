package admission

import (
	"go/build"
	"slices"
	"testing"
)

// TestLayers: admission sits above pkg/caller and pkg/nodepool and below
// the front doors and the worker, importing none of them; and the two
// front doors share it (and pkg/httpjson) rather than one importing the
// other, so neither links the other.
func TestLayers(t *testing.T) {
	t.Parallel()
	const mod = "github.com/ensnodepool/webhook/pkg/"
	for pkg, refused := range map[string][]string{
		"admission": {"intake", "chatops", "worker", "poller", "fcapp", "config"},
		"chatops":   {"intake"},
		"intake":    {"chatops"},
	} {
		p, err := build.Import(mod+pkg, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if pkg == "admission" && (!slices.Contains(p.Imports, mod+"caller") || !slices.Contains(p.Imports, mod+"nodepool")) {
			t.Errorf("admission imports %v, want caller and nodepool among them", p.Imports)
		}
		for _, r := range refused {
			if slices.Contains(p.Imports, mod+r) {
				t.Errorf("%s imports %s", pkg, r)
			}
		}
	}
}
