package callback

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// MaxURL bounds a callback URL's length.
const MaxURL = 2048

// URLRule is the static part of the callback URL policy: what a URL must
// look like for the Sender ever to call it. The webhook's request
// validation (pkg/nodepool) and the Sender's dial guard apply the same
// rule, so a URL accepted at intake is one the sender would try, and one
// it could never call is refused at intake instead of being dead-lettered
// event after event. The addresses a host name resolves to are checked
// only at dial time (they can change); an IP literal is checked here too.
type URLRule struct {
	// AllowHTTP also accepts http:// (local mode only).
	AllowHTTP bool
	// Allow lists address prefixes exempt from the deny list (Classify).
	Allow []netip.Prefix
}

// Check returns nil or a *RefusedError whose Reason says what is wrong
// without repeating the URL: longer than MaxURL, not an absolute http(s)
// URL with a host, credentials, a fragment, a port outside 1–65535, or an
// IP literal Classify refuses and Allow does not exempt.
func (r URLRule) Check(raw string) error {
	_, err := r.parse(raw)
	return err
}

func (r URLRule) parse(raw string) (*url.URL, error) {
	if len(raw) > MaxURL {
		return nil, &RefusedError{Reason: "longer than " + strconv.Itoa(MaxURL) + " characters"}
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
		if err := (&guard{allow: r.Allow}).checkAddr(host, a); err != nil {
			return nil, err
		}
	}
	return u, nil
}
