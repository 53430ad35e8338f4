package ledger

import (
	"context"
	"regexp"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
)

// reScope is a replay-guard scope, e.g. "dingtalk".
var reScope = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,31}$`)

// maxNonce bounds Once's nonce (the store's key limit is 1 KB).
const maxNonce = 512

// Once reports whether (scope, nonce) is seen for the first time within
// ttl, across all instances: a replay guard (e.g. a DingTalk timestamp and
// sign pair). The first call writes the pair with its expiry (PutRow, row
// must not exist) and gets true; later calls get false until the expiry
// passes, after which one caller takes the pair over (a write conditional
// on the token it read) and gets true again. Like Reserve, it recognises
// its own write when the SDK re-sends it. ttl must be positive; the row
// itself lives until the table's retention.
func (l *Ledger) Once(ctx context.Context, scope, nonce string, ttl time.Duration) (first bool, err error) {
	switch {
	case !reScope.MatchString(scope):
		return false, invalid("scope: want 1-32 of [a-z0-9_.-], starting with a letter")
	case nonce == "" || len(nonce) > maxNonce:
		return false, invalid("nonce: want 1-%d bytes", maxNonce)
	case ttl <= 0:
		return false, invalid("ttl: want a positive duration")
	}
	pk := oncePK(scope, nonce)
	token := newToken()
	now := l.cfg.Now()
	expires := ms(now.Add(ttl))
	err = l.write(ctx, "once", l.put(pk, noSK, cond(tablestore.RowExistenceExpectation_EXPECT_NOT_EXIST, nil),
		col("Expires", expires), col("Token", token)))
	if err == nil {
		return true, nil
	}
	if !hasCode(err, codeConditionFailed) {
		return false, err
	}
	r, err := l.get(ctx, "once", pk, noSK)
	switch {
	case err != nil:
		return false, err
	case r == nil: // removed by the retention between the two calls: refuse, to be safe
		return false, nil
	case r.str("Token") == token:
		return true, nil // our own write, re-sent by the SDK
	case fromMS(r.num("Expires")).After(now):
		return false, nil
	}
	take := l.update(pk, noSK, cond(tablestore.RowExistenceExpectation_EXPECT_EXIST, eq("Token", r.str("Token"), true)))
	take.PutColumn("Expires", expires)
	take.PutColumn("Token", token)
	err = l.write(ctx, "once", take)
	if hasCode(err, codeConditionFailed) {
		return false, nil // another caller took it over first
	}
	return err == nil, err
}
