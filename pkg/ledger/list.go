package ledger

import (
	"context"
	"encoding/base64"
	"fmt"
	"regexp"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
)

// List page sizes.
const (
	DefaultLimit = 20
	MaxLimit     = 100 // BatchGetRow reads at most 100 rows
)

// Filter selects the records List returns; zero fields select everything.
type Filter struct {
	// ClusterId keeps the requests for that cluster.
	ClusterId string
	// State keeps the requests in that state.
	State State
	// Since keeps the requests accepted at or after it.
	Since time.Time
	// Limit is the page size, 1..MaxLimit; default DefaultLimit.
	Limit int
	// PageToken continues a listing: a Page.NextPageToken, with the same
	// filter.
	PageToken string
}

// Page is one page of List.
type Page struct {
	// Requests, newest first.
	Requests []*Record
	// NextPageToken continues the listing; empty on the last page. A page
	// may hold fewer than Limit requests (even none) and still have a
	// token: one call reads at most Config.Scan index rows.
	NextPageToken string `json:",omitempty"`
}

// reIndexSK is an index sort key, as page tokens carry it.
var reIndexSK = regexp.MustCompile(`^[0-9]{13}#[A-Za-z0-9_-]{1,64}$`)

// pageToken encodes the sort key of the last index row a page consumed.
func pageToken(sk string) string { return base64.RawURLEncoding.EncodeToString([]byte(sk)) }

// parsePageToken is the inverse of pageToken; anything else is ErrInvalid.
func parsePageToken(tok string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || !reIndexSK.Match(b) {
		return "", invalid("PageToken: not a token of this listing")
	}
	return string(b), nil
}

// check validates f and returns the sort key its token stands for.
func (f *Filter) check() (after string, err error) {
	switch {
	case f.Limit < 0 || f.Limit > MaxLimit:
		return "", invalid("Limit: want 1..%d", MaxLimit)
	case f.State != "" && !f.State.Valid():
		return "", invalid("State: want accepted, creating, active, failed or timeout")
	case len(f.ClusterId) > 256:
		return "", invalid("ClusterId: longer than 256 bytes")
	}
	if f.Limit == 0 {
		f.Limit = DefaultLimit
	}
	if f.PageToken == "" {
		return "", nil
	}
	return parsePageToken(f.PageToken)
}

// indexRow is one row of a caller's index.
type indexRow struct{ sk, requestID, clusterID string }

// List returns caller's records newest first, filtered by f: a GetRange
// backward over the caller's index rows (ClusterId is filtered there), then
// one BatchGetRow of the request rows (State is filtered there). One call
// reads at most Config.Scan index rows.
func (l *Ledger) List(ctx context.Context, caller string, f Filter) (Page, error) {
	if caller != "" && !reCaller.MatchString(caller) {
		return Page{}, invalid("caller: want 1-64 of [a-z0-9_.-]")
	}
	after, err := f.check()
	if err != nil {
		return Page{}, err
	}
	pk := indexPK(caller)
	from, to := bound(pk, true), bound(pk, false)
	if after != "" {
		from = rowKey(pk, after)
	}
	if !f.Since.IsZero() {
		to = rowKey(pk, fmt.Sprintf("%013d", f.Since.UnixMilli()))
	}
	page := Page{Requests: []*Record{}}
	last := after
	for scanned := 0; scanned < l.cfg.Scan; {
		want := min(f.Limit-len(page.Requests)+1, l.cfg.Scan-scanned)
		if f.ClusterId != "" || f.State != "" {
			want = min(MaxLimit, l.cfg.Scan-scanned)
		}
		rows, next, err := l.scan(ctx, "list", from, to, tablestore.BACKWARD, int32(want))
		if err != nil {
			return Page{}, err
		}
		idx := indexRows(rows, after)
		recs, err := l.records(ctx, caller, f, idx)
		if err != nil {
			return Page{}, err
		}
		for i, ir := range idx {
			if len(page.Requests) == f.Limit {
				page.NextPageToken = pageToken(last)
				return page, nil
			}
			scanned++
			last = ir.sk
			if recs[i] != nil {
				page.Requests = append(page.Requests, recs[i])
			}
		}
		if next == nil {
			return page, nil
		}
		from = next
	}
	page.NextPageToken = pageToken(last)
	return page, nil
}

// indexRows reads index rows, leaving out those at or after the page
// token's (the first one read is the token's own row).
func indexRows(rows []*tablestore.Row, after string) []indexRow {
	out := make([]indexRow, 0, len(rows))
	for _, r := range rows {
		if r.PrimaryKey == nil || len(r.PrimaryKey.PrimaryKeys) != 2 {
			continue
		}
		sk, _ := r.PrimaryKey.PrimaryKeys[1].Value.(string)
		if !reIndexSK.MatchString(sk) || (after != "" && sk >= after) {
			continue
		}
		out = append(out, indexRow{sk: sk, requestID: sk[14:], clusterID: columns(r.Columns).str("ClusterId")})
	}
	return out
}

// records reads the request rows of the index rows that pass f's
// ClusterId; recs[i] is nil when idx[i] does not pass f, its request row
// is gone, or it is not the row idx[i] was written for (another caller's,
// or accepted at another time).
func (l *Ledger) records(ctx context.Context, caller string, f Filter, idx []indexRow) ([]*Record, error) {
	var ids []string
	var at []int
	for i, ir := range idx {
		if f.ClusterId == "" || ir.clusterID == f.ClusterId {
			ids = append(ids, ir.requestID)
			at = append(at, i)
		}
	}
	recs := make([]*Record, len(idx))
	if len(ids) == 0 {
		return recs, nil
	}
	rows, err := l.getMany(ctx, "list", ids)
	if err != nil {
		return nil, err
	}
	for j, r := range rows {
		if r == nil || r.str("Caller") != callerPart(caller) {
			continue
		}
		rec := l.parseRecord(ids[j], r)
		if indexSK(rec.AcceptedAt, rec.RequestId) != idx[at[j]].sk {
			continue // an index row left by a write that found the id claimed
		}
		if f.State == "" || rec.State == f.State {
			recs[at[j]] = rec
		}
	}
	return recs, nil
}

// getMany reads the request rows of ids (at most MaxLimit) in one
// BatchGetRow; rows[i] is nil when ids[i] has none.
func (l *Ledger) getMany(ctx context.Context, op string, ids []string) ([]row, error) {
	q := &tablestore.MultiRowQueryCriteria{TableName: l.cfg.Table, MaxVersion: 1}
	for _, id := range ids {
		q.PrimaryKey = append(q.PrimaryKey, rowKey(requestPK(id), noSK))
	}
	var resp *tablestore.BatchGetRowResponse
	err := l.call(ctx, op, func() (err error) {
		resp, err = l.db.BatchGetRow(&tablestore.BatchGetRowRequest{MultiRowQueryCriteria: []*tablestore.MultiRowQueryCriteria{q}})
		return err
	})
	if err != nil {
		return nil, err
	}
	results := resp.TableToRowsResult[l.cfg.Table]
	if len(results) != len(ids) {
		return nil, &StoreError{Op: op, Err: fmt.Errorf("BatchGetRow answered %d rows for %d", len(results), len(ids))}
	}
	rows := make([]row, len(ids))
	for i, r := range results {
		switch {
		case !r.IsSucceed:
			return nil, storeError(op, &tablestore.OtsError{Code: r.Error.Code, Message: r.Error.Message})
		case len(r.PrimaryKey.PrimaryKeys) > 0:
			rows[i] = columns(r.Columns)
		}
	}
	return rows, nil
}
