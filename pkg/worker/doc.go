// Package worker turns envelopes from the requests queue into ENS node
// pools: exactly one pool per (ClusterId, Name), as fast as the API allows,
// without ever dropping a request.
//
// A Worker handles one trigger invocation at a time ([Worker.HandlePayload]
// decodes the EventBridge MNS payload, [Worker.HandleBatch] works decoded
// messages). It talks to ENS, the queues and callback receivers only through
// the small consumer-side interfaces [PoolCreator], [Sender] and [Deliverer];
// functions/worker wires them to pkg/ens, pkg/mns and pkg/callback.
//
// # One batch
//
//  1. Every message's caller is established first: with Config.Callers only
//     a signed envelope (nodepool.SignedEnvelope) whose Caller is in CALLERS
//     and whose signature verifies with one of that caller's secrets is
//     read; anything else is dead-lettered (Forbidden, Unauthenticated) and
//     told to no one, so no event is ever signed for a caller that did not
//     send it. The envelope is then decoded (nodepool.Parse), unsealed and
//     validated with the same nodepool.Validator and the caller's policy as
//     the webhook (pkg/admission); its ids reach a record only when they
//     are well-formed. An undecodable message or an unknown envelope version
//     goes to the dead-letter queue with the reason;
//     an invalid one (including a clear Password, which must arrive sealed:
//     go run ./scripts/enqueue), a password sealed with a key id SEAL_KEYS
//     lacks (UnknownSealKey, never retried) and a RequestId this instance
//     saw with another request (IdempotencyKeyReused, Config.Seen) also get
//     a nodepool.failed event when they name a usable callback (with
//     CALLERS: one inside the established caller's CallbackHosts).
//  2. Valid requests are grouped by ClusterId, and each cluster is described
//     once (DescribeClusterNodePools, all pages) per batch, not once per
//     message.
//  3. Requests are worked concurrently, up to Config.Concurrency ENS calls at
//     a time (the ENS client's limiter enforces the rate), serialised per
//     (ClusterId, Name): a second message for the same pool sees the first's
//     result.
//  4. A pool with the request's Name and the same spec (nodepool.SpecDiff:
//     every field the request states and ENS reports, DesiredSize included)
//     is adopted, not created again; one with a different spec is a
//     permanent "Conflict" naming each differing field. This is also what makes redelivery safe: a message
//     redelivered after a crash between CreateClusterNodePool and its
//     acknowledgement finds its pool on the Describe and adopts it.
//  5. A created or adopted pool gets a tracking message (pkg/tracking)
//     carrying its nodepool.creating callback, due at once for the poller.
//     With Config.Deliverer set the worker makes that attempt itself first
//     (bounded by Config.NotifyTimeout); functions/worker leaves it unset so
//     that creates never wait on a receiver. A permanent failure (an ENS API error
//     that is not retryable, a conflict, an invalid request) gets a
//     nodepool.failed event through the same path, with the API's Code and
//     Message, and a dead-letter record.
//
// # Partial batches
//
// EventBridge pushes a batch and, when the function returns an error,
// retries the whole batch
// (https://www.alibabacloud.com/help/en/functioncompute/fc/error-handling-4-1): it has no
// per-message acknowledgement like Lambda's batchItemFailures
// (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html). So the worker acknowledges each message itself by writing its
// outcome somewhere durable before returning nil:
//
//   - success: the tracking queue;
//   - permanent failure: the dead-letter queue (and the tracking queue for
//     its nodepool.failed callback);
//   - transient failure (throttling, 5xx, timeouts the ENS client's own
//     retries could not absorb within the invocation's budget, minus
//     Config.Reserve): the envelope itself goes back to the requests queue
//     with Config.RequeueDelay. Only those messages are redone; the others
//     are neither lost nor repeated. An envelope older than
//     Config.PoolDeadline (by ReceivedAt) fails instead, so nothing loops
//     forever.
//
// If a message's outcome cannot be written (the tracking or dead-letter send
// fails), its envelope is re-queued instead; only when that fails too does
// HandleBatch return an error, and the trigger redelivers the whole batch.
// Redelivery is safe because creation is idempotent by adoption: at worst a
// message is tracked twice, which yields a callback twice with the same
// webhook-id, and receivers deduplicate on it.
//
// # Logs
//
// Records carry the RequestId, ClusterId, Name and MNS message id (the FC
// request id comes from the log handler, fcadapter.NewLogHandler). Message
// bodies, passwords (clear or sealed) and secrets are never logged;
// reasons taken from ENS errors have the request's password masked.
// Dead-letter records carry bodies with every password member masked by
// structure (nodepool.RedactJSON), or, for a body that is not JSON, only
// its size and the body sealed (DeadLetter.BodyWithheld).
package worker
