package callback

import (
	"errors"
	"net/netip"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrConfig reports an invalid Config, VerifierConfig or secret.
	ErrConfig = errors.New("callback: invalid configuration")
	// ErrRefused reports a callback URL or address that the SSRF policy refuses.
	ErrRefused = errors.New("callback: destination refused")
	// ErrHeaders reports missing or malformed webhook-* headers.
	ErrHeaders = errors.New("callback: missing or invalid webhook headers")
	// ErrTimestamp reports a webhook-timestamp outside the verifier's tolerance.
	ErrTimestamp = errors.New("callback: webhook timestamp outside tolerance")
	// ErrGone is returned (wrapped) by a Renderer's Check when the receiver
	// says the destination no longer exists or expired: the attempt is Gone.
	ErrGone = errors.New("callback: destination gone")
	// ErrSignature reports that no signature in webhook-signature matches.
	ErrSignature = errors.New("callback: no matching signature")
)

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
