package callback

import (
	"context"
	"net/http"
	"net/url"
)

// Renderer formats callbacks for one kind of receiver — a chat platform's
// reply endpoint — instead of the signed Standard Webhooks JSON. A Deliverer
// uses it for deliveries whose Delivery.Format names it in
// Config.Renderers; the SSRF guard, timeouts, retry policy and delivery
// state are the same as for standard callbacks, but no webhook-* signature
// headers are sent (the receiver authenticates the URL or a token instead).
//
// Implementations must be safe for concurrent use.
type Renderer interface {
	// Render returns the body and headers to POST to dest for ev. client
	// is the Deliverer's guarded client, for any token the receiver's API
	// needs. An error wrapping callbackurl.ErrRefused is permanent (e.g. dest's host
	// is not the platform's); any other error is retried.
	Render(ctx context.Context, client *http.Client, dest *url.URL, ev Event) (body []byte, header http.Header, err error)
	// Check judges the receiver's answer (its body truncated to
	// Config.MaxResponseBytes): chat APIs report errors inside 200
	// answers. For a 2xx, nil means delivered and an error is retried,
	// unless it wraps ErrGone. For other statuses only an ErrGone answer
	// changes the outcome (to Gone).
	Check(status int, body []byte) error
}

// Delivery.Format values are chosen by the code that registers Renderers;
// an empty Format is the Standard Webhooks JSON callback.
