package callback

import "errors"

// Sentinel errors; test with errors.Is.
var (
	// ErrConfig reports an invalid Config, VerifierConfig or secret.
	ErrConfig = errors.New("callback: invalid configuration")
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
