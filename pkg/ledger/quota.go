package ledger

import (
	"context"
	"errors"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
)

// Limits are a caller's quotas (CALLERS); zero means no limit.
type Limits struct {
	// PerMinute is MaxRequestsPerMinute: requests admitted per calendar
	// minute (UTC), counted across all instances.
	PerMinute int
	// InFlight is MaxPoolsInFlight: requests admitted whose flight has not
	// ended (Finish, EndFlight) and whose Deadline has not passed.
	InFlight int
}

// Bounds of QuotaError.RetryAfter for the in-flight quota.
const (
	minRetryAfter = time.Second
	maxRetryAfter = time.Minute
)

// maxFlightScan bounds the in-flight rows one Quota call reads.
const maxFlightScan = 5000

// Quota admits one request of caller under lim, or refuses it with a
// *QuotaError naming the quota, the limit and when to retry. The in-flight
// count is read first (expired deadlines do not count); only then is the
// minute's counter incremented, so a request refused for pools in flight
// does not use up the minute. A request refused per minute still counts in
// its minute: a caller that keeps sending stays refused until the minute
// ends (RetryAfter).
//
// The counter is incremented with an UpdateRow that the SDK sends exactly
// once (no SDK retry): a re-sent increment would count twice. A lost answer
// then costs ErrUnavailable rather than a wrong count.
func (l *Ledger) Quota(ctx context.Context, caller string, lim Limits) error {
	if caller != "" && !reCaller.MatchString(caller) {
		return invalid("caller: want 1-64 of [a-z0-9_.-]")
	}
	now := l.cfg.Now()
	if lim.InFlight > 0 {
		n, soonest, err := l.inFlight(ctx, caller, now, lim.InFlight)
		if err != nil {
			return err
		}
		if n >= lim.InFlight {
			wait := min(max(soonest.Sub(now), minRetryAfter), maxRetryAfter)
			return &QuotaError{Quota: QuotaInFlight, Limit: lim.InFlight, RetryAfter: ceilSecond(wait)}
		}
	}
	if lim.PerMinute > 0 {
		minute := now.Unix() / 60
		n, err := l.increment(ctx, windowPK(caller, minute), "N")
		if err != nil {
			return err
		}
		if n > int64(lim.PerMinute) {
			next := time.Unix((minute+1)*60, 0)
			return &QuotaError{Quota: QuotaPerMinute, Limit: lim.PerMinute, RetryAfter: ceilSecond(next.Sub(now))}
		}
	}
	return nil
}

// ceilSecond rounds d up to whole seconds (Retry-After is in seconds).
func ceilSecond(d time.Duration) time.Duration {
	return (d + time.Second - 1).Truncate(time.Second)
}

// inFlight counts caller's flights whose deadline is after now, stopping
// at limit; soonest is the earliest of their deadlines.
func (l *Ledger) inFlight(ctx context.Context, caller string, now time.Time, limit int) (n int, soonest time.Time, err error) {
	pk := flightPK(caller)
	from, to := bound(pk, false), bound(pk, true)
	for scanned := 0; scanned < maxFlightScan && n < limit; {
		rows, next, err := l.scan(ctx, "quota", from, to, tablestore.FORWARD, 500)
		if err != nil {
			return 0, time.Time{}, err
		}
		scanned += len(rows)
		for _, r := range rows {
			d := fromMS(columns(r.Columns).num("Deadline"))
			if !d.After(now) {
				continue
			}
			n++
			if soonest.IsZero() || d.Before(soonest) {
				soonest = d
			}
		}
		if next == nil {
			break
		}
		from = next
	}
	return n, soonest, nil
}

// increment adds 1 to the INTEGER column name of row (pk, "-") and returns
// the new value.
func (l *Ledger) increment(ctx context.Context, pk, name string) (int64, error) {
	chg := l.update(pk, noSK, cond(tablestore.RowExistenceExpectation_IGNORE, nil))
	chg.IncrementColumn(name, 1)
	chg.SetReturnIncrementValue()
	chg.AppendIncrementColumnToReturn(name)
	var resp *tablestore.UpdateRowResponse
	err := l.call(ctx, "quota", func() (err error) {
		resp, err = l.once.UpdateRow(&tablestore.UpdateRowRequest{UpdateRowChange: chg})
		return err
	})
	if err != nil {
		return 0, err
	}
	for _, c := range resp.Columns {
		if n, ok := c.Value.(int64); ok && c.ColumnName == name {
			return n, nil
		}
	}
	return 0, &StoreError{Op: "quota", Err: errors.New("UpdateRow returned no " + name)}
}

// StartFlight counts requestId among caller's pools in flight until
// deadline (MarkQueued and Seen do the same when Reservation.Deadline is
// set). Re-applying it writes the same row.
func (l *Ledger) StartFlight(ctx context.Context, caller, requestID string, deadline time.Time) error {
	if err := checkFlight(caller, requestID); err != nil {
		return err
	}
	return l.write(ctx, "flight", l.flight(caller, requestID, deadline))
}

// EndFlight stops counting requestId among caller's pools in flight (Finish
// does the same with the terminal event). Ending an ended flight is not an
// error.
func (l *Ledger) EndFlight(ctx context.Context, caller, requestID string) error {
	if err := checkFlight(caller, requestID); err != nil {
		return err
	}
	return l.write(ctx, "flight", l.endFlight(caller, requestID))
}

func checkFlight(caller, requestID string) error {
	switch {
	case caller != "" && !reCaller.MatchString(caller):
		return invalid("caller: want 1-64 of [a-z0-9_.-]")
	case !reRequestID.MatchString(requestID):
		return invalid("RequestId: want 1-64 of [A-Za-z0-9_-]")
	}
	return nil
}

func (l *Ledger) flight(caller, requestID string, deadline time.Time) tablestore.RowChange {
	return l.put(flightPK(caller), requestID, cond(tablestore.RowExistenceExpectation_IGNORE, nil), col("Deadline", ms(deadline)))
}

func (l *Ledger) endFlight(caller, requestID string) tablestore.RowChange {
	return l.del(flightPK(caller), requestID, cond(tablestore.RowExistenceExpectation_IGNORE, nil))
}

// bound is the first (or, with last, the past-the-end) key of partition pk.
func bound(pk string, last bool) *tablestore.PrimaryKey {
	k := new(tablestore.PrimaryKey)
	k.AddPrimaryKeyColumn(colPK, pk)
	if last {
		k.AddPrimaryKeyColumnWithMaxValue(colSK)
	} else {
		k.AddPrimaryKeyColumnWithMinValue(colSK)
	}
	return k
}

// scan reads at most limit rows from (inclusive) toward to (exclusive) in
// one GetRange; next is where the following read starts, nil at the end.
func (l *Ledger) scan(ctx context.Context, op string, from, to *tablestore.PrimaryKey, dir tablestore.Direction, limit int32) ([]*tablestore.Row, *tablestore.PrimaryKey, error) {
	var resp *tablestore.GetRangeResponse
	err := l.call(ctx, op, func() (err error) {
		resp, err = l.db.GetRange(&tablestore.GetRangeRequest{RangeRowQueryCriteria: &tablestore.RangeRowQueryCriteria{
			TableName: l.cfg.Table, StartPrimaryKey: from, EndPrimaryKey: to,
			Direction: dir, Limit: limit, MaxVersion: 1,
		}})
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return resp.Rows, resp.NextStartPrimaryKey, nil
}
