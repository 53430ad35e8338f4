// Package callback delivers signed node pool callbacks to requesters.
//
// It implements the outbound half of the product's callback contract
// (docs/callbacks.md):
//
//   - Event is the payload {type, timestamp, data}; no field can carry a
//     password, so none can leak into a callback.
//   - Signer and Verifier implement Standard Webhooks v1 signing
//     (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md)
//     on top of the reference Go library.
//   - Deliverer.Deliver makes one attempt: fresh timestamp and signature, a
//     15 s timeout, redirects not followed, 2xx delivered, 410 gone,
//     Retry-After honoured within bounds, and an SSRF guard that checks the
//     address actually dialed (after DNS resolution) against a deny list of
//     private, loopback, link-local, CGNAT, multicast and reserved ranges.
//   - Policy and Schedule compute the next attempt time with jitter;
//     Delivery is the JSON state that travels in queue messages between
//     attempts (its record on the dead-letter queue, once undeliverable,
//     is pkg/deadletter's CallbackRecord).
//
// With Config.Callers (CALLERS) every attempt, whoever queued the delivery,
// is made only for a caller that is in CALLERS and only to a URL its
// CallbackHosts allow, signed with that caller's secret; anything else is
// refused without sending or signing.
//
// Delivery is at-least-once: webhook-id (MessageID) is stable across
// retries so receivers can deduplicate on it.
package callback
