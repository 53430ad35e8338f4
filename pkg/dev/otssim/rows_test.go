package otssim_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/ensnodepool/webhook/pkg/dev/otssim"
)

// TestPutGetDelete: every attribute type round-trips, PutRow replaces the
// row, EXPECT_NOT_EXIST refuses the second put, EXPECT_EXIST refuses a
// missing row, a missing row reads as empty.
func TestPutGetDelete(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	c := b.client
	createTable(t, c, "ledger", -1, 1, pkSchema{"id", tablestore.PrimaryKeyType_STRING, false},
		pkSchema{"n", tablestore.PrimaryKeyType_INTEGER, false})
	pk := key("id", "req-1", "n", int64(-7))

	err := put(c, "ledger", pk, tablestore.RowExistenceExpectation_EXPECT_NOT_EXIST,
		"s", "文字 ok", "i", int64(-1<<62), "f", 2.5, "b", true, "bin", []byte{0, 255, 0})
	if err != nil {
		t.Fatalf("first PutRow: %v", err)
	}
	err = put(c, "ledger", pk, tablestore.RowExistenceExpectation_EXPECT_NOT_EXIST, "s", "again")
	wantErr(t, err, "OTSConditionCheckFail", 403)

	got := get(t, c, "ledger", pk)
	if got["s"] != "文字 ok" || got["i"] != int64(-1<<62) || got["f"] != 2.5 || got["b"] != true || !bytes.Equal(got["bin"].([]byte), []byte{0, 255, 0}) {
		t.Fatalf("GetRow = %#v", got)
	}
	resp := must[*tablestore.GetRowResponse](t)(c.GetRow(&tablestore.GetRowRequest{SingleRowQueryCriteria: &tablestore.SingleRowQueryCriteria{
		TableName: "ledger", PrimaryKey: pk, MaxVersion: 1, ColumnsToGet: []string{"i", "b"}}}))
	if len(resp.Columns) != 2 || resp.Columns[0].ColumnName != "b" || resp.Columns[1].ColumnName != "i" ||
		resp.Columns[0].Timestamp != b.clock.Now().UnixMilli() || resp.PrimaryKey.PrimaryKeys[1].Value != int64(-7) {
		t.Fatalf("GetRow(columns b, i) = %+v %+v", resp.PrimaryKey.PrimaryKeys, resp.Columns)
	}
	if resp.ConsumedCapacityUnit.Read != 1 {
		t.Errorf("GetRow consumed %d read CU, want 1", resp.ConsumedCapacityUnit.Read)
	}

	// PutRow replaces the whole row.
	if err := put(c, "ledger", pk, tablestore.RowExistenceExpectation_EXPECT_EXIST, "s", "v2"); err != nil {
		t.Fatal(err)
	}
	if got := get(t, c, "ledger", pk); len(got) != 1 || got["s"] != "v2" {
		t.Fatalf("after replacing put: %v", got)
	}

	err = put(c, "ledger", key("id", "missing", "n", int64(0)), tablestore.RowExistenceExpectation_EXPECT_EXIST, "s", "x")
	wantErr(t, err, "OTSConditionCheckFail", 403)
	if got := get(t, c, "ledger", key("id", "missing", "n", int64(0))); got != nil {
		t.Fatalf("missing row read as %v", got)
	}

	del := func(pk *tablestore.PrimaryKey, cond tablestore.RowExistenceExpectation) error {
		ch := &tablestore.DeleteRowChange{TableName: "ledger", PrimaryKey: pk}
		ch.SetCondition(cond)
		_, err := c.DeleteRow(&tablestore.DeleteRowRequest{DeleteRowChange: ch})
		return err
	}
	wantErr(t, del(key("id", "missing", "n", int64(0)), tablestore.RowExistenceExpectation_EXPECT_EXIST), "OTSConditionCheckFail", 403)
	if err := del(pk, tablestore.RowExistenceExpectation_EXPECT_EXIST); err != nil {
		t.Fatal(err)
	}
	if got := get(t, c, "ledger", pk); got != nil {
		t.Fatalf("deleted row read as %v", got)
	}

	// Wrong primary keys are refused with the service's messages.
	for _, bad := range []*tablestore.PrimaryKey{key("id", "x"), key("n", int64(1), "id", "x"), key("id", int64(1), "n", int64(1))} {
		wantErr(t, put(c, "ledger", bad, tablestore.RowExistenceExpectation_IGNORE, "s", "x"), "OTSParameterInvalid", 400)
	}
}

// TestUpdateRow: put, delete and increment cells; RT_AFTER_MODIFY returns
// the incremented values; a missing counter starts at 0; incrementing a
// non-INTEGER column is refused; an update that only deletes does not
// create a row.
func TestUpdateRow(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	c := b.client
	createTable(t, c, "counters", -1, 1, pkSchema{"id", tablestore.PrimaryKeyType_STRING, false})
	pk := key("id", "c1")

	update := func(cond tablestore.RowExistenceExpectation, f func(*tablestore.UpdateRowChange)) (*tablestore.UpdateRowResponse, error) {
		ch := &tablestore.UpdateRowChange{TableName: "counters", PrimaryKey: pk}
		ch.SetCondition(cond)
		f(ch)
		return c.UpdateRow(&tablestore.UpdateRowRequest{UpdateRowChange: ch})
	}
	resp, err := update(tablestore.RowExistenceExpectation_IGNORE, func(ch *tablestore.UpdateRowChange) {
		ch.PutColumn("name", "first")
		ch.PutColumn("gone", "x")
		ch.IncrementColumn("hits", 5)
		ch.SetReturnIncrementValue()
		ch.AppendIncrementColumnToReturn("hits")
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Columns) != 1 || resp.Columns[0].ColumnName != "hits" || resp.Columns[0].Value != int64(5) {
		t.Fatalf("RT_AFTER_MODIFY on a new row = %+v", resp.Columns)
	}
	b.clock.Advance(time.Millisecond)
	resp, err = update(tablestore.RowExistenceExpectation_EXPECT_EXIST, func(ch *tablestore.UpdateRowChange) {
		ch.IncrementColumn("hits", -2)
		ch.IncrementColumn("other", 10)
		ch.DeleteColumn("gone")
		ch.SetReturnIncrementValue()
		ch.AppendIncrementColumnToReturn("hits")
		ch.AppendIncrementColumnToReturn("other")
	})
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]any{}
	for _, col := range resp.Columns {
		vals[col.ColumnName] = col.Value
	}
	if vals["hits"] != int64(3) || vals["other"] != int64(10) || len(vals) != 2 {
		t.Fatalf("RT_AFTER_MODIFY = %v, want hits 3, other 10", vals)
	}
	if got := get(t, c, "counters", pk); got["name"] != "first" || got["hits"] != int64(3) || got["gone"] != nil {
		t.Fatalf("row after updates = %v", got)
	}

	_, err = update(tablestore.RowExistenceExpectation_IGNORE, func(ch *tablestore.UpdateRowChange) { ch.IncrementColumn("name", 1) })
	wantErr(t, err, "OTSParameterInvalid", 400)
	_, err = update(tablestore.RowExistenceExpectation_IGNORE, func(ch *tablestore.UpdateRowChange) {
		ch.IncrementColumn("hits", 1)
		ch.PutColumn("hits", int64(1))
	})
	wantErr(t, err, "OTSParameterInvalid", 400)
	_, err = update(tablestore.RowExistenceExpectation_IGNORE, func(ch *tablestore.UpdateRowChange) { ch.IncrementColumn("hits", 1<<62) })
	if err != nil {
		t.Fatal(err)
	}
	_, err = update(tablestore.RowExistenceExpectation_IGNORE, func(ch *tablestore.UpdateRowChange) { ch.IncrementColumn("hits", 1<<62) })
	wantErr(t, err, "OTSParameterInvalid", 400) // overflow
	if got := get(t, c, "counters", pk); got["hits"] != int64(3+1<<62) {
		t.Fatalf("a refused increment changed the row: %v", got)
	}

	pk = key("id", "never")
	if _, err := update(tablestore.RowExistenceExpectation_IGNORE, func(ch *tablestore.UpdateRowChange) { ch.DeleteColumn("x") }); err != nil {
		t.Fatal(err)
	}
	if got := get(t, c, "counters", pk); got != nil {
		t.Fatalf("a delete-only update created %v", got)
	}
}

// TestColumnConditions: single and composite column conditions with the
// Go SDK's defaults (FilterIfMissing false, LatestVersionOnly false).
func TestColumnConditions(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	c := b.client
	createTable(t, c, "ledger", -1, 2, pkSchema{"id", tablestore.PrimaryKeyType_STRING, false})
	pk := key("id", "r")
	if err := put(c, "ledger", pk, tablestore.RowExistenceExpectation_IGNORE, "state", "pending", "seq", int64(1)); err != nil {
		t.Fatal(err)
	}
	cond := func(col string, cmp tablestore.ComparatorType, v any) *tablestore.SingleColumnCondition {
		return tablestore.NewSingleColumnCondition(col, cmp, v)
	}
	and := func(fs ...tablestore.ColumnFilter) tablestore.ColumnFilter {
		cc := tablestore.NewCompositeColumnCondition(tablestore.LO_AND)
		for _, f := range fs {
			cc.AddFilter(f)
		}
		return cc
	}
	not := func(f tablestore.ColumnFilter) tablestore.ColumnFilter {
		cc := tablestore.NewCompositeColumnCondition(tablestore.LO_NOT)
		cc.AddFilter(f)
		return cc
	}
	or := func(fs ...tablestore.ColumnFilter) tablestore.ColumnFilter {
		cc := tablestore.NewCompositeColumnCondition(tablestore.LO_OR)
		for _, f := range fs {
			cc.AddFilter(f)
		}
		return cc
	}
	missingStrict := cond("absent", tablestore.CT_EQUAL, "x")
	missingStrict.FilterIfMissing = true
	for _, tc := range []struct {
		name string
		f    tablestore.ColumnFilter
		ok   bool
	}{
		{"eq", cond("state", tablestore.CT_EQUAL, "pending"), true},
		{"eq_wrong", cond("state", tablestore.CT_EQUAL, "done"), false},
		{"lt", cond("seq", tablestore.CT_LESS_THAN, int64(2)), true},
		{"ge_fails", cond("seq", tablestore.CT_GREATER_EQUAL, int64(2)), false},
		{"type_mismatch_eq", cond("seq", tablestore.CT_EQUAL, "1"), false},
		{"type_mismatch_ne", cond("seq", tablestore.CT_NOT_EQUAL, 1.0), true},
		{"missing_passes_by_default", cond("absent", tablestore.CT_EQUAL, "x"), true},
		{"missing_filtered", missingStrict, false},
		{"and", and(cond("state", tablestore.CT_EQUAL, "pending"), cond("seq", tablestore.CT_EQUAL, int64(1))), true},
		{"and_fails", and(cond("state", tablestore.CT_EQUAL, "pending"), cond("seq", tablestore.CT_EQUAL, int64(9))), false},
		{"or", or(cond("state", tablestore.CT_EQUAL, "done"), cond("seq", tablestore.CT_EQUAL, int64(1))), true},
		{"not", not(cond("state", tablestore.CT_EQUAL, "done")), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := &tablestore.UpdateRowChange{TableName: "ledger", PrimaryKey: pk}
			ch.SetCondition(tablestore.RowExistenceExpectation_EXPECT_EXIST)
			ch.SetColumnCondition(tc.f)
			ch.PutColumn("checked", tc.name)
			_, err := c.UpdateRow(&tablestore.UpdateRowRequest{UpdateRowChange: ch})
			if tc.ok && err != nil {
				t.Fatalf("condition refused: %v", err)
			}
			if !tc.ok {
				wantErr(t, err, "OTSConditionCheckFail", 403)
			}
		})
	}

	// LatestVersionOnly false: an older version may satisfy the condition.
	b.clock.Advance(time.Millisecond)
	if err := updatePut(c, "ledger", pk, "state", "done"); err != nil {
		t.Fatal(err)
	}
	old := cond("state", tablestore.CT_EQUAL, "pending")
	ch := &tablestore.PutRowChange{TableName: "ledger", PrimaryKey: pk}
	ch.SetCondition(tablestore.RowExistenceExpectation_EXPECT_EXIST)
	ch.SetColumnCondition(old)
	ch.AddColumn("state", "any")
	if _, err := c.PutRow(&tablestore.PutRowRequest{PutRowChange: ch}); err != nil {
		t.Fatalf("an older version should satisfy a condition without LatestVersionOnly: %v", err)
	}
	if err := updatePut(c, "ledger", pk, "state", "done"); err != nil {
		t.Fatal(err)
	}
	old.LatestVersionOnly = true
	_, err := c.PutRow(&tablestore.PutRowRequest{PutRowChange: ch})
	wantErr(t, err, "OTSConditionCheckFail", 403)
}

// updatePut sets one column with UpdateRow (keeping older versions).
func updatePut(c *tablestore.TableStoreClient, table string, pk *tablestore.PrimaryKey, col string, v any) error {
	ch := &tablestore.UpdateRowChange{TableName: table, PrimaryKey: pk}
	ch.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
	ch.PutColumn(col, v)
	_, err := c.UpdateRow(&tablestore.UpdateRowRequest{UpdateRowChange: ch})
	return err
}

// TestVersionsAndTTL: versions are kept up to max_versions and read back
// newest first; rows whose versions are older than the TTL are not
// returned (and no longer satisfy EXPECT_EXIST), on the injected clock.
func TestVersionsAndTTL(t *testing.T) {
	t.Parallel()
	b := setup(t, "", func(c *otssim.Config) { c.MaxClockSkew = 72 * time.Hour })
	c := b.client
	createTable(t, c, "hist", 86400, 2, pkSchema{"id", tablestore.PrimaryKeyType_STRING, false})
	pk := key("id", "a")
	for i := range int64(3) {
		if err := updatePut(c, "hist", pk, "v", i); err != nil {
			t.Fatal(err)
		}
		b.clock.Advance(time.Second)
	}
	resp := must[*tablestore.GetRowResponse](t)(c.GetRow(&tablestore.GetRowRequest{SingleRowQueryCriteria: &tablestore.SingleRowQueryCriteria{
		TableName: "hist", PrimaryKey: pk, MaxVersion: 5}}))
	if len(resp.Columns) != 2 || resp.Columns[0].Value != int64(2) || resp.Columns[1].Value != int64(1) ||
		resp.Columns[0].Timestamp-resp.Columns[1].Timestamp != 1000 {
		t.Fatalf("versions = %+v, want 2 then 1, one second apart", resp.Columns)
	}
	// A time range selects versions by timestamp.
	ts := resp.Columns[1].Timestamp
	resp = must[*tablestore.GetRowResponse](t)(c.GetRow(&tablestore.GetRowRequest{SingleRowQueryCriteria: &tablestore.SingleRowQueryCriteria{
		TableName: "hist", PrimaryKey: pk, TimeRange: &tablestore.TimeRange{Start: ts, End: ts + 1}}}))
	if len(resp.Columns) != 1 || resp.Columns[0].Value != int64(1) {
		t.Fatalf("time range read = %+v", resp.Columns)
	}

	b.clock.Advance(86400*time.Second - 2*time.Second) // the newest version is 1 s from expiring
	if got := get(t, c, "hist", pk); got["v"] != int64(2) {
		t.Fatalf("before the TTL: %v", got)
	}
	b.clock.Advance(2 * time.Second)
	if got := get(t, c, "hist", pk); got != nil {
		t.Fatalf("after the TTL the row still reads %v", got)
	}
	wantErr(t, put(c, "hist", pk, tablestore.RowExistenceExpectation_EXPECT_EXIST, "v", int64(9)), "OTSConditionCheckFail", 403)
	if err := put(c, "hist", pk, tablestore.RowExistenceExpectation_EXPECT_NOT_EXIST, "v", int64(9)); err != nil {
		t.Fatalf("an expired row should not exist: %v", err)
	}

	// A client timestamp must be within deviation_cell_version_in_sec.
	ch := &tablestore.PutRowChange{TableName: "hist", PrimaryKey: pk}
	ch.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
	ch.AddColumnWithTimestamp("v", int64(1), b.clock.Now().Add(-48*time.Hour).UnixMilli())
	_, err := c.PutRow(&tablestore.PutRowRequest{PutRowChange: ch})
	wantErr(t, err, "OTSParameterInvalid", 400)
}

// TestAutoIncrement: PutRow with the AUTO_INCREMENT placeholder gets a new,
// increasing key back with RT_PK.
func TestAutoIncrement(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	c := b.client
	createTable(t, c, "events", -1, 1, pkSchema{"shard", tablestore.PrimaryKeyType_STRING, false},
		pkSchema{"seq", tablestore.PrimaryKeyType_INTEGER, true})
	var last int64
	for i := range 3 {
		pk := &tablestore.PrimaryKey{}
		pk.AddPrimaryKeyColumn("shard", "s")
		pk.AddPrimaryKeyColumnWithAutoIncrement("seq")
		ch := &tablestore.PutRowChange{TableName: "events", PrimaryKey: pk}
		ch.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
		ch.AddColumn("n", int64(i))
		ch.SetReturnPk()
		resp, err := c.PutRow(&tablestore.PutRowRequest{PutRowChange: ch})
		if err != nil {
			t.Fatal(err)
		}
		seq := resp.PrimaryKey.PrimaryKeys[1].Value.(int64)
		if seq <= last {
			t.Fatalf("auto-increment %d after %d", seq, last)
		}
		last = seq
		if got := get(t, c, "events", key("shard", "s", "seq", seq)); got["n"] != int64(i) {
			t.Fatalf("row %d read %v", seq, got)
		}
	}
}
