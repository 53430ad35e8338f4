package testkit

import "go.uber.org/goleak"

// LeakOptions are the goleak options of every package's leak check, extra
// appended: they ignore the process-wide cleaner goroutines of fasthttp
// (under the MNS SDK in pkg/mns), which belong to the library and end by
// themselves once its idle connections expire.
func LeakOptions(extra ...goleak.Option) []goleak.Option {
	return append([]goleak.Option{
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*Client).mCleaner"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*TCPDialer).tcpAddrsClean"),
	}, extra...)
}

// VerifyTestMain runs the package's tests and then fails the run if a
// goroutine they started is still running (goleak, with LeakOptions and
// extra). Call it from TestMain.
func VerifyTestMain(m goleak.TestingM, extra ...goleak.Option) {
	goleak.VerifyTestMain(m, LeakOptions(extra...)...)
}
