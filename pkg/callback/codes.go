package callback

// Error codes that nodepool.failed and nodepool.timeout events carry in
// data.Error.Code, besides the ENS API's own codes (an ENS error the worker
// cannot retry is passed through with ENS's Code and Message). This is the
// one list: the "Error codes" table of docs/callbacks.md is checked against
// Codes by a test.
const (
	// CodeConflict: a pool with the request's name exists with a different
	// spec; the message lists each differing field.
	CodeConflict = "Conflict"
	// CodeInvalidRequest: a queued envelope breaks the request rules.
	CodeInvalidRequest = "InvalidRequest"
	// CodeUnsupportedVersion: a queued envelope has an unknown Version.
	CodeUnsupportedVersion = "UnsupportedVersion"
	// CodeUndecodable: a queued message is not a readable envelope.
	CodeUndecodable = "Undecodable"
	// CodeDeadlineExceeded: ENS stayed unreachable or busy until the pool
	// deadline (POOL_DEADLINE after the request was received).
	CodeDeadlineExceeded = "DeadlineExceeded"
	// CodeUnknownSealKey: the password is sealed with a key id that the
	// functions' SEAL_KEYS does not hold.
	CodeUnknownSealKey = "UnknownSealKey"
	// CodeIdempotencyKeyReused: the request's Idempotency-Key (or
	// webhook-id) was already used for a different request body.
	CodeIdempotencyKeyReused = "IdempotencyKeyReused"
	// CodeClusterNotFound: ENS says the cluster does not exist.
	CodeClusterNotFound = "ClusterNotFound"
	// CodeForbidden: with CALLERS, a queued envelope names no caller, an
	// unknown one, or a request outside its caller's policy.
	CodeForbidden = "Forbidden"
	// CodeNodepoolFailed: ENS reports the node pool's state as failed.
	CodeNodepoolFailed = "NodepoolFailed"
	// CodeNodepoolVanished: the node pool is no longer listed by ENS.
	CodeNodepoolVanished = "NodepoolVanished"
	// CodeNodepoolTimeout: the node pool was not active by its deadline.
	CodeNodepoolTimeout = "NodepoolTimeout"
)

// Codes lists every code of ours above, in the docs table's order.
var Codes = []string{
	CodeConflict, CodeInvalidRequest, CodeUnsupportedVersion, CodeUndecodable,
	CodeDeadlineExceeded, CodeUnknownSealKey, CodeIdempotencyKeyReused,
	CodeClusterNotFound, CodeForbidden, CodeNodepoolFailed, CodeNodepoolVanished, CodeNodepoolTimeout,
}
