package fcadapter

import "errors"

// Sentinel errors; every error returned by this package wraps exactly one of
// them, so callers test with errors.Is.
var (
	// ErrNotHTTPEvent means the payload is not an FC3 HTTP trigger event.
	ErrNotHTTPEvent = errors.New("fcadapter: not an FC HTTP trigger event")
	// ErrMalformedEvent means the payload is not valid JSON of any accepted
	// trigger shape, or a field of it cannot be decoded.
	ErrMalformedEvent = errors.New("fcadapter: malformed event")
	// ErrUndecodable marks one element of an MNS batch that cannot be turned
	// into a message (see QueueMessage.Err).
	ErrUndecodable = errors.New("fcadapter: undecodable queue message")
	// ErrNotTimerEvent means the payload is not an FC timer trigger event.
	ErrNotTimerEvent = errors.New("fcadapter: not an FC timer trigger event")
)
