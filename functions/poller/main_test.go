package main

import (
	"testing"

	"github.com/ensnodepool/webhook/pkg/dev/testkit"
)

// TestMain fails the run if a test leaves a goroutine running.
func TestMain(m *testing.M) { testkit.VerifyTestMain(m) }
