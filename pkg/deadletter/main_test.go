package deadletter_test

import (
	"testing"

	"github.com/ensnodepool/webhook/pkg/dev/simtest"
)

// TestMain fails the run if a test leaves a goroutine behind.
func TestMain(m *testing.M) { simtest.VerifyTestMain(m) }
