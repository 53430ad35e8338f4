// Package ledger is the request ledger: what became of every request, one
// answer to an Idempotency-Key on every instance, and caller quotas held
// across instances. It lives in one Alibaba Cloud Tablestore (OTS) table,
// reached through the official Go SDK
// (github.com/aliyun/aliyun-tablestore-go-sdk).
//
// The queues stay the work; the ledger is the record. The worker and the
// poller write to it with a short timeout and, when it fails, leave the
// write to the outbox (OutboxRecord) to be applied later; only intake
// refuses (503) what it cannot reserve.
//
// # One table
//
// Every item lives in one table with primary key (pk STRING, sk STRING),
// one version per cell and a time to live (Config.Retention, 30 days by
// default). One table means one thing to create, check and grant access to;
// the item kind is the prefix of pk:
//
//	item          pk                         sk                          columns
//	request       r#<RequestId>              -                           Caller, IdempotencyKey, ClusterId, Name,
//	                                                                     Source, Digest, AcceptedAt, Request,
//	                                                                     ev_<seq>, dl_<ms>_<hash>, mk_<ms>_<kind>
//	key           k#<caller>#<key>           -                           RequestId, Digest, State, At, Token, LeaseUntil
//	caller index  i#<caller>                 <AcceptedAt ms, 13 digits>#<RequestId>   ClusterId, Name
//	in flight     f#<caller>                 <RequestId>                 Deadline
//	rate window   w#<caller>#<unix minute>   -                           N
//	replay guard  o#<scope>#<nonce>          -                           Expires, Token
//
// The caller of simple mode (no CALLERS) is spelled "-". Times are Unix
// milliseconds (INTEGER); Request is the request as JSON without its
// password.
//
// # One column per event and per attempt
//
// Each event told to the caller is its own column (ev_000001, ev_000002,
// …), each delivery attempt too (dl_<start ms>_<hash of webhook-id>), each
// dead-letter or redrive mark too. Recording one is one UpdateRow that puts
// one column: no read, no read-modify-write, no race between the worker and
// the poller, and writing the same event again (an outbox record applied
// twice) writes the same column. The request's state is not stored: Get and
// List compute it from the event of highest Sequence (accepted when there
// is none), so it cannot disagree with the events.
//
// # Idempotency keys
//
// Reserve writes the key row with "row must not exist": the store decides
// which instance reserved a key first, the way Stripe replays the first
// answer to a reused key (https://docs.stripe.com/api/idempotent_requests)
// and AWS Powertools persists keys with conditional writes
// (https://docs.powertools.aws.dev/lambda/python/latest/utilities/idempotency/).
// Another body with the same key is *KeyReusedError (422, as the IETF
// Idempotency-Key draft says:
// https://datatracker.ietf.org/doc/draft-ietf-httpapi-idempotency-key-header/);
// the same body gets the first RequestId and is not queued again, or
// *InProgressError (409) while the first holder is still queuing it. A
// holder that died is replaced once its lease (Config.Lease) ends.
//
// The Go SDK re-sends a write whose answer it lost, so a conditional write
// that succeeded can come back as a failed condition. Reserve and Once
// write a random token with each row and recognise their own.
//
// # Quotas
//
// MaxRequestsPerMinute is a counter per caller and calendar minute,
// incremented by a client that sends the write once (the SDK's re-send
// would count twice). MaxPoolsInFlight counts the caller's in-flight rows
// whose deadline has not passed; Finish and EndFlight remove them.
//
// # Failures
//
// Every store failure that is not the request's fault is a *StoreError
// matching ErrUnavailable: the edge answers 503 with Retry-After. Each call
// ends within Config.Timeout, the SDK's retries included (the SDK takes no
// context). The SDK panics on some malformed answers; the ledger turns
// such a panic into an error.
//
// # Cost
//
// An event, a delivery attempt or a mark costs one write. Admitting a
// request costs Reserve (one PutRow), Quota (a GetRange and one UpdateRow
// when limits are set) and MarkQueued (one BatchWriteRow).
package ledger
