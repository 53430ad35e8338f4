package testkit_test

import (
	"testing"

	"github.com/ensnodepool/webhook/pkg/dev/testkit"
)

func TestMain(m *testing.M) { testkit.VerifyTestMain(m) }
