package callback

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// Resolver resolves host names; *net.Resolver implements it. Tests inject
// fakes to simulate DNS answers (including rebinding) without a network.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// DialFunc dials a network address, like net.Dialer.DialContext.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// deniedRange is one range refused by Classify, with the reason reported.
type deniedRange struct {
	prefix netip.Prefix
	reason string
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// denied4 lists the IPv4 ranges that are not globally reachable unicast,
// after the IANA IPv4 Special-Purpose Address Registry
// (https://www.iana.org/assignments/iana-ipv4-special-registry/) plus
// multicast (RFC 5771) and the reserved 240/4 block.
var denied4 = []deniedRange{
	{mustPrefix("0.0.0.0/8"), "unspecified or this-network"},
	{mustPrefix("10.0.0.0/8"), "private (RFC 1918)"},
	{mustPrefix("100.64.0.0/10"), "shared address space / CGNAT (incl. cloud metadata 100.100.100.200)"},
	{mustPrefix("127.0.0.0/8"), "loopback"},
	{mustPrefix("169.254.0.0/16"), "link-local (incl. metadata 169.254.169.254)"},
	{mustPrefix("172.16.0.0/12"), "private (RFC 1918)"},
	{mustPrefix("192.0.0.0/24"), "IETF protocol assignments"},
	{mustPrefix("192.0.2.0/24"), "documentation"},
	{mustPrefix("192.88.99.0/24"), "6to4 relay anycast"},
	{mustPrefix("192.168.0.0/16"), "private (RFC 1918)"},
	{mustPrefix("198.18.0.0/15"), "benchmarking"},
	{mustPrefix("198.51.100.0/24"), "documentation"},
	{mustPrefix("203.0.113.0/24"), "documentation"},
	{mustPrefix("224.0.0.0/4"), "multicast"},
	{mustPrefix("240.0.0.0/4"), "reserved or broadcast"},
}

// denied6 lists IPv6 ranges inside global unicast 2000::/3 that are refused
// (https://www.iana.org/assignments/iana-ipv6-special-registry/). Addresses
// outside 2000::/3 (loopback, unspecified, ULA fc00::/7, link-local
// fe80::/10, multicast ff00::/8, ...) are refused wholesale.
var denied6 = []deniedRange{
	{mustPrefix("2001::/23"), "IETF protocol assignments (incl. Teredo)"},
	{mustPrefix("2001:db8::/32"), "documentation"},
	{mustPrefix("3fff::/20"), "documentation"},
}

var (
	global6   = mustPrefix("2000::/3")
	nat64     = mustPrefix("64:ff9b::/96")
	sixToFour = mustPrefix("2002::/16")
)

// Classify reports whether a is a public unicast address a callback may be
// sent to, and if not, why. IPv4-mapped IPv6 (::ffff:a.b.c.d), NAT64
// (64:ff9b::/96) and 6to4 (2002::/16) addresses are judged by the IPv4
// address they embed. Zones are ignored.
func Classify(a netip.Addr) (public bool, reason string) {
	if !a.IsValid() {
		return false, "invalid address"
	}
	a = a.WithZone("")
	if a.Is4In6() {
		return classify4(a.Unmap())
	}
	if a.Is4() {
		return classify4(a)
	}
	b := a.As16()
	switch {
	case nat64.Contains(a):
		return classify4(netip.AddrFrom4([4]byte(b[12:16])))
	case sixToFour.Contains(a):
		return classify4(netip.AddrFrom4([4]byte(b[2:6])))
	}
	if !global6.Contains(a) {
		switch {
		case a.IsLoopback():
			return false, "loopback"
		case a.IsUnspecified():
			return false, "unspecified"
		case a.IsLinkLocalUnicast():
			return false, "link-local"
		case a.IsMulticast():
			return false, "multicast"
		case mustPrefix("fc00::/7").Contains(a):
			return false, "unique local (ULA)"
		}
		return false, "not global unicast"
	}
	for _, r := range denied6 {
		if r.prefix.Contains(a) {
			return false, r.reason
		}
	}
	return true, ""
}

func classify4(a netip.Addr) (bool, string) {
	for _, r := range denied4 {
		if r.prefix.Contains(a) {
			return false, r.reason
		}
	}
	return true, ""
}

// guard applies the SSRF policy: Classify, unless an allowlisted prefix
// contains the address.
type guard struct {
	allow     []netip.Prefix
	allowHTTP bool
	resolver  Resolver
	dial      DialFunc
}

// checkAddr returns a *RefusedError if a may not be dialed.
func (g *guard) checkAddr(host string, a netip.Addr) error {
	a = a.WithZone("")
	for _, p := range g.allow {
		if p.Contains(a) || (a.Is4In6() && p.Contains(a.Unmap())) {
			return nil
		}
	}
	if ok, reason := Classify(a); !ok {
		return &RefusedError{Host: host, Addr: a, Reason: reason}
	}
	return nil
}

// parseURL checks a callback URL against the static rule (URLRule).
func (g *guard) parseURL(raw string) (*url.URL, error) {
	return URLRule{AllowHTTP: g.allowHTTP, Allow: g.allow}.parse(raw)
}

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
		return &RefusedError{Host: address, Reason: "unparseable dial address"}
	}
	return g.checkAddr("", ap.Addr())
}

// CheckURL applies the SSRF policy to a callback URL now: the static rule
// (URLRule) and every address its host resolves to. Use it to
// reject bad URLs early (e.g. when a request is accepted); Deliver checks
// again at dial time, which is the check that counts.
func (s *Sender) CheckURL(ctx context.Context, rawURL string) error {
	u, err := s.guard.parseURL(rawURL)
	if err != nil {
		return err
	}
	_, err = s.guard.resolve(ctx, "tcp", u.Hostname())
	return err
}
