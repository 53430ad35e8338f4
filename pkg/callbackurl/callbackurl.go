// Package callbackurl is the rule a callback URL must pass before anything
// is sent to it: an absolute https URL (http only in local mode) with a
// host, no credentials or fragment, a valid port, at most MaxLen
// characters, and no address that is not public unicast (Classify) unless
// an allowlisted prefix contains it. The webhook's request validation
// (pkg/nodepool) and the callback sender's dial guard (pkg/callback) both
// apply it, so the two agree by construction. It is a leaf: it imports only
// the standard library.
package callbackurl

import (
	"errors"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// ErrRefused reports a callback URL or address that the policy refuses.
var ErrRefused = errors.New("callback: destination refused")

// RefusedError says why a destination was refused. It matches ErrRefused.
type RefusedError struct {
	// Host is the host name or literal from the URL (may be empty).
	Host string
	// Addr is the refused address; invalid when the URL itself was refused.
	Addr netip.Addr
	// Reason is a short, log-safe explanation ("loopback", "https required", ...).
	Reason string
}

// Error implements error.
func (e *RefusedError) Error() string {
	switch {
	case e.Addr.IsValid() && e.Host != "" && e.Host != e.Addr.String():
		return "callback: refused " + e.Host + " (" + e.Addr.String() + "): " + e.Reason
	case e.Addr.IsValid():
		return "callback: refused " + e.Addr.String() + ": " + e.Reason
	case e.Host != "":
		return "callback: refused " + e.Host + ": " + e.Reason
	}
	return "callback: refused: " + e.Reason
}

// Unwrap makes errors.Is(err, ErrRefused) true.
func (e *RefusedError) Unwrap() error { return ErrRefused }

// MaxLen bounds a callback URL's length.
const MaxLen = 2048

// Rule is the static part of the callback URL policy: what a URL must
// look like for the callback sender ever to call it. The webhook's request
// validation (pkg/nodepool) and the sender's dial guard (pkg/callback)
// apply the same rule, so a URL accepted at intake is one the sender would
// try, and one it could never call is refused at intake instead of being
// dead-lettered event after event. The addresses a host name resolves to
// are checked only at dial time (they can change); an IP literal is
// checked here too.
type Rule struct {
	// AllowHTTP also accepts http:// (local mode only).
	AllowHTTP bool
	// Allow lists address prefixes exempt from the deny list (Classify).
	Allow []netip.Prefix
}

// Check returns nil or a *RefusedError whose Reason says what is wrong
// without repeating the URL: longer than MaxLen, not an absolute http(s)
// URL with a host, credentials, a fragment, a port outside 1–65535, or an
// IP literal Classify refuses and Allow does not exempt.
func (r Rule) Check(raw string) error {
	_, err := r.Parse(raw)
	return err
}

// Parse is Check that also returns the parsed URL.
func (r Rule) Parse(raw string) (*url.URL, error) {
	if len(raw) > MaxLen {
		return nil, &RefusedError{Reason: "longer than " + strconv.Itoa(MaxLen) + " characters"}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return nil, &RefusedError{Reason: "not an absolute URL"}
	}
	host := u.Hostname()
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && r.AllowHTTP:
	case u.Scheme == "http":
		return nil, &RefusedError{Host: host, Reason: "https required"}
	default:
		return nil, &RefusedError{Host: host, Reason: "scheme must be https"}
	}
	if host == "" {
		return nil, &RefusedError{Reason: "URL has no host"}
	}
	if u.User != nil {
		return nil, &RefusedError{Host: host, Reason: "credentials in URL not allowed"}
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, &RefusedError{Host: host, Reason: "fragment not allowed"}
	}
	if p := u.Port(); p != "" || strings.HasSuffix(u.Host, ":") {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, &RefusedError{Host: host, Reason: "port must be 1-65535"}
		}
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(host, ".")); err == nil {
		if err := r.CheckAddr(host, a); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// CheckAddr returns a *RefusedError if a may not be called: Classify
// refuses it and no prefix of Allow contains it (an IPv4-mapped address
// also by its IPv4 form). host names the URL's host in the error.
func (r Rule) CheckAddr(host string, a netip.Addr) error {
	a = a.WithZone("")
	for _, p := range r.Allow {
		if p.Contains(a) || (a.Is4In6() && p.Contains(a.Unmap())) {
			return nil
		}
	}
	if ok, reason := Classify(a); !ok {
		return &RefusedError{Host: host, Addr: a, Reason: reason}
	}
	return nil
}

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
