package mnssim_test

import (
	"os"
	"testing"

	"github.com/ensnodepool/webhook/pkg/dev/testkit"
)

// TestMain doubles as the crash test's child process (serveChild); else it
// runs the tests and fails the run if one leaves a goroutine running.
func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		serveChild(dir)
	}
	testkit.VerifyTestMain(m)
}
