package ledger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
)

// Primary key columns and the sort key of single-row items.
const (
	colPK = "pk"
	colSK = "sk"
	noSK  = "-"
)

// callerPart is the caller as keys spell it: "-" in simple mode.
func callerPart(caller string) string {
	if caller == "" {
		return "-"
	}
	return caller
}

func requestPK(id string) string        { return "r#" + id }
func keyPK(caller, key string) string   { return "k#" + callerPart(caller) + "#" + key }
func indexPK(caller string) string      { return "i#" + callerPart(caller) }
func flightPK(caller string) string     { return "f#" + callerPart(caller) }
func oncePK(scope, nonce string) string { return "o#" + scope + "#" + nonce }
func windowPK(caller string, minute int64) string {
	return "w#" + callerPart(caller) + "#" + strconv.FormatInt(minute, 10)
}

// indexSK sorts a caller's requests by acceptance, then RequestId.
func indexSK(at time.Time, id string) string { return fmt.Sprintf("%013d#%s", at.UnixMilli(), id) }

// rowKey is the primary key (pk, sk).
func rowKey(pk, sk string) *tablestore.PrimaryKey {
	k := new(tablestore.PrimaryKey)
	k.AddPrimaryKeyColumn(colPK, pk)
	k.AddPrimaryKeyColumn(colSK, sk)
	return k
}

// col is an attribute column; values are string or int64 only (the SDK
// panics on int).
func col(name string, value any) tablestore.AttributeColumn {
	return tablestore.AttributeColumn{ColumnName: name, Value: value}
}

// eq is the column condition "name == value"; a row without the column
// passes it unless failIfMissing.
func eq(name string, value any, failIfMissing bool) *tablestore.SingleColumnCondition {
	c := tablestore.NewSingleColumnCondition(name, tablestore.CT_EQUAL, value)
	c.FilterIfMissing = failIfMissing
	c.LatestVersionOnly = true
	return c
}

// and combines column conditions.
func and(cs ...tablestore.ColumnFilter) tablestore.ColumnFilter {
	return &tablestore.CompositeColumnValueFilter{Operator: tablestore.LO_AND, Filters: cs}
}

// cond is a row condition; the SDK panics on a nil one.
func cond(e tablestore.RowExistenceExpectation, f tablestore.ColumnFilter) *tablestore.RowCondition {
	return &tablestore.RowCondition{RowExistenceExpectation: e, ColumnCondition: f}
}

func (l *Ledger) put(pk, sk string, c *tablestore.RowCondition, cols ...tablestore.AttributeColumn) *tablestore.PutRowChange {
	return &tablestore.PutRowChange{TableName: l.cfg.Table, PrimaryKey: rowKey(pk, sk), Columns: cols, Condition: c}
}

func (l *Ledger) update(pk, sk string, c *tablestore.RowCondition) *tablestore.UpdateRowChange {
	return &tablestore.UpdateRowChange{TableName: l.cfg.Table, PrimaryKey: rowKey(pk, sk), Condition: c}
}

func (l *Ledger) del(pk, sk string, c *tablestore.RowCondition) *tablestore.DeleteRowChange {
	return &tablestore.DeleteRowChange{TableName: l.cfg.Table, PrimaryKey: rowKey(pk, sk), Condition: c}
}

// call runs one SDK call after checking ctx and the credentials, and wraps
// its failure in a *StoreError. The SDK takes no context: a call in
// progress ends within Config.Timeout. A panic in the SDK (it dereferences
// fields a malformed answer lacks) becomes an error.
func (l *Ledger) call(ctx context.Context, op string, fn func() error) (err error) {
	if err := ctx.Err(); err != nil {
		return &StoreError{Op: op, Err: err}
	}
	if c := l.cfg.Credentials(); c.AccessKeyID == "" || c.AccessKeySecret == "" {
		return &StoreError{Op: op, Err: errors.New("Config.Credentials returned no AccessKey pair")}
	}
	defer func() {
		if r := recover(); r != nil {
			err = &StoreError{Op: op, Err: fmt.Errorf("tablestore SDK panicked: %v", r)}
		}
	}()
	if err := fn(); err != nil {
		return storeError(op, err)
	}
	return nil
}

// write sends one row change.
func (l *Ledger) write(ctx context.Context, op string, change tablestore.RowChange) error {
	return l.call(ctx, op, func() error {
		var err error
		switch c := change.(type) {
		case *tablestore.PutRowChange:
			_, err = l.db.PutRow(&tablestore.PutRowRequest{PutRowChange: c})
		case *tablestore.UpdateRowChange:
			_, err = l.db.UpdateRow(&tablestore.UpdateRowRequest{UpdateRowChange: c})
		case *tablestore.DeleteRowChange:
			_, err = l.db.DeleteRow(&tablestore.DeleteRowRequest{DeleteRowChange: c})
		default:
			err = fmt.Errorf("unknown row change %T", change)
		}
		return err
	})
}

// batch writes changes in one BatchWriteRow. rowErrs[i] is the failure of
// changes[i] (nil when it was written); err is the failure of the whole
// request.
func (l *Ledger) batch(ctx context.Context, op string, changes []tablestore.RowChange) (rowErrs []error, err error) {
	var resp *tablestore.BatchWriteRowResponse
	err = l.call(ctx, op, func() (err error) {
		req := new(tablestore.BatchWriteRowRequest)
		for _, c := range changes {
			req.AddRowChange(c)
		}
		resp, err = l.db.BatchWriteRow(req)
		return err
	})
	if err != nil {
		return nil, err
	}
	results := resp.TableToRowsResult[l.cfg.Table]
	if len(results) != len(changes) {
		return nil, &StoreError{Op: op, Err: fmt.Errorf("BatchWriteRow answered %d rows for %d", len(results), len(changes))}
	}
	rowErrs = make([]error, len(changes))
	for i, r := range results {
		if !r.IsSucceed {
			rowErrs[i] = storeError(op, &tablestore.OtsError{Code: r.Error.Code, Message: r.Error.Message})
		}
	}
	return rowErrs, nil
}

// row is the attribute columns of one row by name.
type row map[string]any

func (r row) str(name string) string { s, _ := r[name].(string); return s }
func (r row) num(name string) int64  { n, _ := r[name].(int64); return n }

// columns collects attribute columns into a row.
func columns(cols []*tablestore.AttributeColumn) row {
	r := make(row, len(cols))
	for _, c := range cols {
		r[c.ColumnName] = c.Value
	}
	return r
}

// get reads one row; nil when it does not exist.
func (l *Ledger) get(ctx context.Context, op, pk, sk string) (row, error) {
	var resp *tablestore.GetRowResponse
	err := l.call(ctx, op, func() (err error) {
		resp, err = l.db.GetRow(&tablestore.GetRowRequest{SingleRowQueryCriteria: &tablestore.SingleRowQueryCriteria{
			TableName: l.cfg.Table, PrimaryKey: rowKey(pk, sk), MaxVersion: 1,
		}})
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(resp.PrimaryKey.PrimaryKeys) == 0 {
		return nil, nil
	}
	return columns(resp.Columns), nil
}

// ms is a time as stored: Unix milliseconds.
func ms(t time.Time) int64 { return t.UnixMilli() }

// fromMS reads a stored time (UTC).
func fromMS(n int64) time.Time { return time.UnixMilli(n).UTC() }

// newToken returns a random token that tells one caller's write from
// another's (and from the SDK's re-send of the same write).
func newToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return hex.EncodeToString(b[:])
}
