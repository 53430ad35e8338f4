package testkit

import (
	"net"
	"sync"
	"testing"
)

// HangingHost listens on loopback, accepts every connection and never
// answers, like a firewalled receiver that drops everything after the
// handshake. It returns its base URL ("http://127.0.0.1:port") and a count
// of the connections accepted so far; the listener and the connections
// close when the test ends.
func HangingHost(t testing.TB) (url string, accepted func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String(), func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(conns)
	}
}
