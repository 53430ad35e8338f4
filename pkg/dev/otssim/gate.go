package otssim

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Listen listens on addr (host:port; port 0 picks one) and returns the
// listener to serve this server on. A refuse fault closes its socket, so
// that connecting fails with "connection refused", closes the open
// connections once their current request is answered, and listens on the
// same address again when the fault ends. A server has at most one such
// listener.
func (s *Server) Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	g := &gate{ln: ln, addr: ln.Addr(), conns: map[*gateConn]struct{}{}, wake: make(chan struct{}), closed: make(chan struct{})}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if s.faults.gate != nil {
		_ = ln.Close()
		return nil, errors.New("otssim: Listen: the server already has a listener")
	}
	s.faults.gate = g
	return g, nil
}

// gate is a listener that a refuse fault can take down and bring back.
type gate struct {
	mu     sync.Mutex
	ln     net.Listener // nil while down
	addr   net.Addr
	conns  map[*gateConn]struct{}
	timer  *time.Timer
	wake   chan struct{} // closed (and replaced) when the listener comes back
	closed chan struct{}
	once   sync.Once
}

// Accept waits for a connection; while the gate is down it waits for it
// to come back.
func (g *gate) Accept() (net.Conn, error) {
	for {
		g.mu.Lock()
		ln, wake := g.ln, g.wake
		g.mu.Unlock()
		if ln == nil {
			select {
			case <-wake:
				continue
			case <-g.closed:
				return nil, net.ErrClosed
			}
		}
		c, err := ln.Accept()
		if err != nil {
			g.mu.Lock()
			replaced := g.ln != ln
			g.mu.Unlock()
			select {
			case <-g.closed:
				return nil, net.ErrClosed
			default:
			}
			if replaced {
				continue // taken down while accepting
			}
			return nil, err
		}
		gc := &gateConn{Conn: c, g: g}
		g.mu.Lock()
		g.conns[gc] = struct{}{}
		g.mu.Unlock()
		return gc, nil
	}
}

// Close stops listening for good.
func (g *gate) Close() error {
	var err error
	g.once.Do(func() {
		close(g.closed)
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.timer != nil {
			g.timer.Stop()
		}
		if g.ln != nil {
			err = g.ln.Close()
		}
	})
	return err
}

func (g *gate) Addr() net.Addr { return g.addr }

// down closes the socket for d and dooms the open connections.
func (g *gate) down(d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln != nil {
		_ = g.ln.Close()
		g.ln = nil
	}
	for c := range g.conns {
		c.doom()
	}
	if g.timer != nil {
		g.timer.Stop()
	}
	g.timer = time.AfterFunc(d, g.up)
}

// up listens again on the same address, retrying while the port is busy.
func (g *gate) up() {
	for {
		g.mu.Lock()
		if g.ln != nil {
			g.mu.Unlock()
			return
		}
		select {
		case <-g.closed:
			g.mu.Unlock()
			return
		default:
		}
		ln, err := net.Listen("tcp", g.addr.String())
		if err == nil {
			g.ln = ln
			close(g.wake)
			g.wake = make(chan struct{})
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		select {
		case <-time.After(50 * time.Millisecond):
		case <-g.closed:
			return
		}
	}
}

// gateConn is an accepted connection; once doomed, reading fails, so the
// HTTP server closes it after answering the request in progress.
type gateConn struct {
	net.Conn
	g      *gate
	doomed atomic.Bool
	once   sync.Once
}

var errDoomed = errors.New("otssim: connection closed by a refuse fault")

func (c *gateConn) doom() {
	c.doomed.Store(true)
	_ = c.Conn.SetReadDeadline(time.Now()) // wake a read waiting for the next request
}

func (c *gateConn) Read(b []byte) (int, error) {
	if c.doomed.Load() {
		return 0, errDoomed
	}
	return c.Conn.Read(b)
}

func (c *gateConn) Close() error {
	c.once.Do(func() {
		c.g.mu.Lock()
		delete(c.g.conns, c)
		c.g.mu.Unlock()
	})
	return c.Conn.Close()
}

// SetLinger makes Close send a reset (see Server.drop).
func (c *gateConn) SetLinger(sec int) error {
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		return tc.SetLinger(sec)
	}
	return nil
}
