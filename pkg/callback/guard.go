package callback

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"

	"github.com/ensnodepool/webhook/pkg/callbackurl"
)

// Resolver resolves host names; *net.Resolver implements it. Tests inject
// fakes to simulate DNS answers (including rebinding) without a network.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// DialFunc dials a network address, like net.Dialer.DialContext.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// guard applies the SSRF policy: callbackurl.Rule, on the URL and again on
// every address its host resolves to, at dial time.
type guard struct {
	allow     []netip.Prefix
	allowHTTP bool
	resolver  Resolver
	dial      DialFunc
}

// rule is the static rule the guard applies (callbackurl.Rule).
func (g *guard) rule() callbackurl.Rule {
	return callbackurl.Rule{AllowHTTP: g.allowHTTP, Allow: g.allow}
}

// checkAddr returns a *callbackurl.RefusedError if a may not be dialed.
func (g *guard) checkAddr(host string, a netip.Addr) error { return g.rule().CheckAddr(host, a) }

// parseURL checks a callback URL against the static rule.
func (g *guard) parseURL(raw string) (*url.URL, error) { return g.rule().Parse(raw) }

// resolve returns the addresses for host (a literal or a name), refusing the
// whole set when any address is refused: a name that mixes public and
// private answers is treated as hostile.
func (g *guard) resolve(ctx context.Context, network, host string) ([]netip.Addr, error) {
	host = strings.TrimSuffix(host, ".")
	if a, err := netip.ParseAddr(host); err == nil {
		if err := g.checkAddr(host, a); err != nil {
			return nil, err
		}
		return []netip.Addr{a}, nil
	}
	lookup := "ip"
	switch network {
	case "tcp4":
		lookup = "ip4"
	case "tcp6":
		lookup = "ip6"
	}
	addrs, err := g.resolver.LookupNetIP(ctx, lookup, host)
	if err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	for _, a := range addrs {
		if err := g.checkAddr(host, a); err != nil {
			return nil, err
		}
	}
	return addrs, nil
}

// dialContext is the http.Transport dialer: it resolves the host itself,
// checks every address and then dials the checked IP literal, so the
// address connected to is the address checked (no DNS rebinding window).
func (g *guard) dialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	addrs, err := g.resolve(ctx, network, host)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, a := range addrs {
		conn, err := g.dial(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return conn, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// control is a net.Dialer Control hook: the last check, on the socket
// address itself, just before connect(2).
func (g *guard) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &callbackurl.RefusedError{Host: address, Reason: "unparseable dial address"}
	}
	return g.checkAddr("", ap.Addr())
}

// CheckURL applies the SSRF policy to a callback URL now: the static rule
// (callbackurl.Rule) and every address its host resolves to. Use it to
// reject bad URLs early (e.g. when a request is accepted); Deliver checks
// again at dial time, which is the check that counts.
func (s *Deliverer) CheckURL(ctx context.Context, rawURL string) error {
	u, err := s.guard.parseURL(rawURL)
	if err != nil {
		return err
	}
	_, err = s.guard.resolve(ctx, "tcp", u.Hostname())
	return err
}
