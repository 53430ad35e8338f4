package simtest

import (
	"testing"

	"go.uber.org/goleak"
)

// LeakOptions are the goleak options of a test package's TestMain: the
// cleaners that fasthttp (the MNS client's transport) starts per client
// and per host end on their own once their connections have been idle for
// MaxIdleConnDuration, and its dialer's address-cache cleaner lives for
// the process by design; none of them is a leak of the code under test.
func LeakOptions() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*Client).mCleaner"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*TCPDialer).tcpAddrsClean"),
	}
}

// VerifyTestMain runs the package's tests and then fails the run if a
// goroutine is left behind (goleak.VerifyTestMain with LeakOptions).
func VerifyTestMain(m *testing.M) { goleak.VerifyTestMain(m, LeakOptions()...) }
