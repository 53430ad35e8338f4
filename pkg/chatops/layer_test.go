package chatops

import (
	"go/build"
	"testing"
)

// TestNoIntake: the chat front door does not import the JSON API's
// (they share pkg/admission and pkg/httpjson), so neither links the other.
func TestNoIntake(t *testing.T) {
	t.Parallel()
	p, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range p.Imports {
		if im == "github.com/ensnodepool/webhook/pkg/intake" {
			t.Errorf("chatops imports %s", im)
		}
	}
}
