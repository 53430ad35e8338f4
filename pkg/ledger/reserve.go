package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
)

// Key row states.
const (
	keyReserved = "reserved"
	keyQueued   = "queued"
)

// logKeyRequestID is the log key of a RequestId, as logattr.KeyRequestID.
const logKeyRequestID = "RequestId"

// MaxKeyLen bounds Reservation.Key (the store's key limit is 1 KB).
const MaxKeyLen = 512

var (
	reRequestID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	reCaller    = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)
)

// Reservation describes a request on its way in: what Reserve reserves the
// key for, and what MarkQueued and Seen record.
type Reservation struct {
	// Caller is the caller's Id; "" in simple mode.
	Caller string
	// Key is the Idempotency-Key (or the webhook-id that stands for it),
	// unique per caller. Required by Reserve, optional for Seen.
	Key string
	// Digest fingerprints the request body; the same key with another
	// Digest is a reused key. Required.
	Digest string
	// RequestId is the id this request gets if it is the key's first.
	RequestId string
	// ClusterId and Name name the node pool.
	ClusterId, Name string
	// Source is who produced the request ("webhook", "chatops", "queue").
	Source string
	// Request is the request as JSON, without its password: a non-empty
	// "Password" member anywhere in it is refused.
	Request json.RawMessage
	// At is when the request was received; its AcceptedAt.
	At time.Time
	// Deadline, if set, counts the request in the caller's pools in flight
	// until then, or until Finish or EndFlight.
	Deadline time.Time
}

// check validates r; a key is required by Reserve only.
func (r *Reservation) check(needKey bool) error {
	switch {
	case r.Caller != "" && !reCaller.MatchString(r.Caller):
		return invalid("Caller: want 1-64 of [a-z0-9_.-]")
	case needKey && r.Key == "":
		return invalid("Key is required")
	case len(r.Key) > MaxKeyLen:
		return invalid("Key: longer than %d bytes", MaxKeyLen)
	case r.Digest == "" || len(r.Digest) > 128:
		return invalid("Digest: want 1-128 bytes")
	case !reRequestID.MatchString(r.RequestId):
		return invalid("RequestId: want 1-64 of [A-Za-z0-9_-]")
	case r.ClusterId == "" || r.Name == "" || len(r.ClusterId) > 256 || len(r.Name) > 256:
		return invalid("ClusterId and Name: want 1-256 bytes each")
	case len(r.Source) > 32:
		return invalid("Source: longer than 32 bytes")
	case r.At.IsZero():
		return invalid("At is required")
	}
	var v any
	if err := json.Unmarshal(r.Request, &v); err != nil {
		return invalid("Request: not JSON")
	}
	if hasPassword(v) {
		return invalid("Request: holds a password")
	}
	return nil
}

// hasPassword reports whether v holds a non-empty "Password" member at any
// depth (case-insensitive), so a password cannot reach the ledger.
func hasPassword(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if s, ok := e.(string); ok && s != "" && strings.EqualFold(k, "password") {
				return true
			}
			if hasPassword(e) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if hasPassword(e) {
				return true
			}
		}
	}
	return false
}

// Reserved is the outcome of Reserve.
type Reserved struct {
	// RequestId is the key's request: the Reservation's own when this
	// call reserved the key, else the first one's.
	RequestId string
	// Queued is true when the key's request was queued before: answer
	// with RequestId and queue nothing. When false, this call holds the
	// reservation: queue the request under RequestId, then MarkQueued, or
	// Release if it was not queued.
	Queued bool
	// Reservation is what MarkQueued records: the one given to Reserve
	// with the RequestId and At of the key's first reservation.
	Reservation Reservation
	// Token identifies this holder of the reservation.
	Token string
}

// errRetry asks Reserve for another round: the key row changed under it.
var errRetry = errors.New("ledger: key row changed, retry")

// Reserve reserves (r.Caller, r.Key) for r on every instance at once: a
// conditional write (PutRow, row must not exist) decides. The outcomes:
//   - the key is new: Reserved for r.RequestId; the caller queues the
//     request, then calls MarkQueued (or Release when it could not).
//   - the key was reserved for another Digest: *KeyReusedError (422).
//   - the key's request was queued: Reserved{Queued: true} with the first
//     RequestId, so nothing is queued twice.
//   - another call holds it (same Digest, not yet queued, lease running):
//     *InProgressError (409); once its Config.Lease ran out without
//     MarkQueued, Reserve takes the reservation over, keeping the first
//     RequestId.
//
// The SDK re-sends a write whose answer was lost; the re-sent PutRow then
// fails its condition. Every reservation carries a random token, so Reserve
// recognises its own row and answers as if the first send had been
// reported. Any store failure is ErrUnavailable: nothing is reserved for
// sure, and the caller is refused (503).
func (l *Ledger) Reserve(ctx context.Context, r Reservation) (Reserved, error) {
	if err := r.check(true); err != nil {
		return Reserved{}, err
	}
	token := newToken()
	for range 3 {
		res, err := l.tryReserve(ctx, r, token)
		if !errors.Is(err, errRetry) {
			return res, err
		}
	}
	return Reserved{}, &StoreError{Op: "reserve", Err: errors.New("the key's row kept changing")}
}

func (l *Ledger) tryReserve(ctx context.Context, r Reservation, token string) (Reserved, error) {
	now := l.cfg.Now()
	pk := keyPK(r.Caller, r.Key)
	err := l.write(ctx, "reserve", l.put(pk, noSK, cond(tablestore.RowExistenceExpectation_EXPECT_NOT_EXIST, nil),
		col("RequestId", r.RequestId), col("Digest", r.Digest), col("State", keyReserved),
		col("At", ms(r.At)), col("Token", token), col("LeaseUntil", ms(now.Add(l.cfg.Lease)))))
	if err == nil {
		return Reserved{RequestId: r.RequestId, Reservation: r, Token: token}, nil
	}
	if !hasCode(err, codeConditionFailed) {
		return Reserved{}, err
	}
	k, err := l.get(ctx, "reserve", pk, noSK)
	if err != nil {
		return Reserved{}, err
	}
	if k == nil {
		return Reserved{}, errRetry // expired between the two calls
	}
	first := k.str("RequestId")
	r.RequestId, r.At = first, fromMS(k.num("At"))
	lease := fromMS(k.num("LeaseUntil"))
	switch {
	case k.str("Token") == token: // our own write, re-sent by the SDK
		return Reserved{RequestId: first, Reservation: r, Token: token}, nil
	case k.str("Digest") != r.Digest:
		return Reserved{}, &KeyReusedError{RequestId: first}
	case k.str("State") == keyQueued:
		return Reserved{RequestId: first, Queued: true, Reservation: r}, nil
	case now.Before(lease):
		return Reserved{}, &InProgressError{RequestId: first, RetryAfter: lease.Sub(now)}
	}
	// The holder's lease ran out before it queued: take over, unless
	// another caller does so first.
	take := l.update(pk, noSK, cond(tablestore.RowExistenceExpectation_EXPECT_EXIST, eq("Token", k.str("Token"), true)))
	take.PutColumn("Token", token)
	take.PutColumn("LeaseUntil", ms(now.Add(l.cfg.Lease)))
	if err := l.write(ctx, "reserve", take); err != nil {
		if hasCode(err, codeConditionFailed) {
			return Reserved{}, errRetry
		}
		return Reserved{}, err
	}
	return Reserved{RequestId: first, Reservation: r, Token: token}, nil
}

// MarkQueued records that the reserved request is in the queue: in one
// BatchWriteRow it sets the key's state to queued (later Reserve calls
// answer with its RequestId), writes the request row and the caller's
// index row, and the in-flight row when Reservation.Deadline is set.
// Re-applying it writes the same columns. ErrClaimed means the RequestId's
// row belongs to another caller or body (nothing of it was overwritten).
func (l *Ledger) MarkQueued(ctx context.Context, res Reserved) error {
	r := res.Reservation
	if err := r.check(true); err != nil {
		return err
	}
	key := l.put(keyPK(r.Caller, r.Key), noSK, cond(tablestore.RowExistenceExpectation_IGNORE, nil),
		col("RequestId", r.RequestId), col("Digest", r.Digest), col("State", keyQueued),
		col("At", ms(r.At)), col("Token", res.Token))
	return l.record(ctx, "queued", r, key)
}

// Seen records a request that reached the queue without Reserve (a queue
// producer's envelope): the request row, the index row and, with a
// Deadline, the in-flight row, in one BatchWriteRow. Re-applying it writes
// the same columns; ErrClaimed means the RequestId's row belongs to another
// caller or body.
func (l *Ledger) Seen(ctx context.Context, r Reservation) error {
	if err := r.check(false); err != nil {
		return err
	}
	return l.record(ctx, "seen", r, nil)
}

// record writes the request row (only if it is unclaimed or r's own: same
// Caller and Digest), the index row, the in-flight row and extra.
func (l *Ledger) record(ctx context.Context, op string, r Reservation, extra tablestore.RowChange) error {
	req := l.update(requestPK(r.RequestId), noSK, cond(tablestore.RowExistenceExpectation_IGNORE,
		and(eq("Caller", callerPart(r.Caller), false), eq("Digest", r.Digest, false))))
	for _, c := range []tablestore.AttributeColumn{
		col("Caller", callerPart(r.Caller)), col("ClusterId", r.ClusterId), col("Name", r.Name),
		col("Digest", r.Digest), col("AcceptedAt", ms(r.At)), col("Request", string(r.Request)),
	} {
		req.PutColumn(c.ColumnName, c.Value)
	}
	if r.Key != "" {
		req.PutColumn("IdempotencyKey", r.Key)
	}
	if r.Source != "" {
		req.PutColumn("Source", r.Source)
	}
	changes := []tablestore.RowChange{req,
		l.put(indexPK(r.Caller), indexSK(r.At, r.RequestId), cond(tablestore.RowExistenceExpectation_IGNORE, nil),
			col("ClusterId", r.ClusterId), col("Name", r.Name))}
	if !r.Deadline.IsZero() {
		changes = append(changes, l.flight(r.Caller, r.RequestId, r.Deadline))
	}
	if extra != nil {
		changes = append(changes, extra)
	}
	rowErrs, err := l.batch(ctx, op, changes)
	if err != nil {
		return err
	}
	if hasCode(rowErrs[0], codeConditionFailed) {
		l.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "ledger: request id claimed by another request",
			slog.String(logKeyRequestID, r.RequestId), slog.String("op", op))
		return ErrClaimed
	}
	return errors.Join(rowErrs...)
}

// Release gives up a reservation that did not lead to a queued request
// (the quota refused it, the queue was unavailable), so the key is free for
// another body. It deletes the key row only if res still holds it; it is
// not an error if it does not.
func (l *Ledger) Release(ctx context.Context, res Reserved) error {
	r := res.Reservation
	if res.Queued || res.Token == "" {
		return nil
	}
	err := l.write(ctx, "release", l.del(keyPK(r.Caller, r.Key), noSK, cond(tablestore.RowExistenceExpectation_IGNORE,
		and(eq("Token", res.Token, true), eq("State", keyReserved, true)))))
	if hasCode(err, codeConditionFailed) {
		return nil
	}
	return err
}
