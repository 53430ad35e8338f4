package admission

import (
	"go/build"
	"strings"
	"testing"
)

// TestLayer: admission sits above pkg/caller and pkg/nodepool and below
// every front door and the worker, which import it; it imports none of
// them.
func TestLayer(t *testing.T) {
	t.Parallel()
	p, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	const mod = "github.com/ensnodepool/webhook/pkg/"
	for _, im := range p.Imports {
		switch strings.TrimPrefix(im, mod) {
		case "intake", "chatops", "worker", "poller", "fcapp", "config":
			t.Errorf("admission imports %s", im)
		}
	}
}
