package otssim_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
)

// fillGrid writes rows (g, n) for g in groups and n in 0..per-1 with
// BatchWriteRow, each holding v = g:n.
func fillGrid(t *testing.T, c *tablestore.TableStoreClient, table string, groups []string, per int) {
	t.Helper()
	req := &tablestore.BatchWriteRowRequest{}
	flush := func() {
		if len(req.RowChangesGroupByTable) == 0 {
			return
		}
		resp, err := c.BatchWriteRow(req)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range resp.TableToRowsResult[table] {
			if !r.IsSucceed {
				t.Fatalf("batch row failed: %+v", r.Error)
			}
		}
		req = &tablestore.BatchWriteRowRequest{}
	}
	n := 0
	for _, g := range groups {
		for i := range per {
			ch := &tablestore.PutRowChange{TableName: table, PrimaryKey: key("g", g, "n", int64(i))}
			ch.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
			ch.AddColumn("v", fmt.Sprintf("%s:%d", g, i))
			req.AddRowChange(ch)
			if n++; n%200 == 0 {
				flush()
			}
		}
	}
	flush()
}

// rangeKey is a two-column bound; "min"/"max" stand for INF_MIN/INF_MAX.
func rangeKey(g any, n any) *tablestore.PrimaryKey {
	pk := &tablestore.PrimaryKey{}
	for _, c := range []struct {
		name string
		v    any
	}{{"g", g}, {"n", n}} {
		switch c.v {
		case "min":
			pk.AddPrimaryKeyColumnWithMinValue(c.name)
		case "max":
			pk.AddPrimaryKeyColumnWithMaxValue(c.name)
		default:
			pk.AddPrimaryKeyColumn(c.name, c.v)
		}
	}
	return pk
}

// scanAll pages through a range with the given page limit and returns the
// v of every row and the number of pages.
func scanAll(t *testing.T, c *tablestore.TableStoreClient, dir tablestore.Direction, start, end *tablestore.PrimaryKey, limit int32) ([]string, int) {
	t.Helper()
	var out []string
	pages := 0
	for start != nil {
		resp, err := c.GetRange(&tablestore.GetRangeRequest{RangeRowQueryCriteria: &tablestore.RangeRowQueryCriteria{
			TableName: "grid", StartPrimaryKey: start, EndPrimaryKey: end, Direction: dir, MaxVersion: 1, Limit: limit}})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range resp.Rows {
			out = append(out, r.Columns[0].Value.(string))
		}
		start = resp.NextStartPrimaryKey
		if pages > 1000 {
			t.Fatal("GetRange does not end")
		}
	}
	return out, pages
}

// TestGetRange pages forward and backward through ranges with limits,
// INF_MIN/INF_MAX bounds and next_start_primary_key.
func TestGetRange(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	c := b.client
	createTable(t, c, "grid", -1, 1, pkSchema{"g", tablestore.PrimaryKeyType_STRING, false},
		pkSchema{"n", tablestore.PrimaryKeyType_INTEGER, false})
	fillGrid(t, c, "grid", []string{"a", "b", "b\x00", "c"}, 5)
	for i := range 3 { // negative integers sort before positive ones
		if err := put(c, "grid", key("g", "b", "n", int64(-1-i)), tablestore.RowExistenceExpectation_IGNORE, "v", fmt.Sprintf("b:%d", -1-i)); err != nil {
			t.Fatal(err)
		}
	}
	forwardB := []string{"b:-3", "b:-2", "b:-1", "b:0", "b:1", "b:2", "b:3", "b:4"}

	for _, tc := range []struct {
		name       string
		dir        tablestore.Direction
		start, end *tablestore.PrimaryKey
		limit      int32
		want       []string
		pages      int
	}{
		{"forward_group", tablestore.FORWARD, rangeKey("b", "min"), rangeKey("b", "max"), 3, forwardB, 3},
		{"backward_group", tablestore.BACKWARD, rangeKey("b", "max"), rangeKey("b", "min"), 3, reversed(forwardB), 3},
		{"forward_inclusive_exclusive", tablestore.FORWARD, rangeKey("a", int64(2)), rangeKey("b", int64(-1)), 0,
			[]string{"a:2", "a:3", "a:4", "b:-3", "b:-2"}, 1},
		{"backward_inclusive_exclusive", tablestore.BACKWARD, rangeKey("b", int64(-1)), rangeKey("a", int64(2)), 2,
			[]string{"b:-1", "b:-2", "b:-3", "a:4", "a:3"}, 3},
		{"whole_table_forward", tablestore.FORWARD, rangeKey("min", "min"), rangeKey("max", "max"), 7, nil, 4},
		{"limit_exact_multiple", tablestore.FORWARD, rangeKey("c", "min"), rangeKey("c", "max"), 5, []string{"c:0", "c:1", "c:2", "c:3", "c:4"}, 1},
		{"empty", tablestore.FORWARD, rangeKey("bb", "min"), rangeKey("bz", "max"), 0, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, pages := scanAll(t, c, tc.dir, tc.start, tc.end, tc.limit)
			if tc.name == "whole_table_forward" {
				if len(got) != 23 || !slices.IsSortedFunc(got[:5], strings.Compare) || got[0] != "a:0" || got[22] != "c:4" ||
					got[13] != "b\x00:0" {
					t.Fatalf("whole table = %q", got)
				}
			} else if !slices.Equal(got, tc.want) {
				t.Fatalf("rows = %q, want %q", got, tc.want)
			}
			if pages != tc.pages {
				t.Errorf("%d pages, want %d", pages, tc.pages)
			}
		})
	}

	t.Run("InvalidRanges", func(t *testing.T) {
		for _, tc := range []struct {
			dir        tablestore.Direction
			start, end *tablestore.PrimaryKey
		}{
			{tablestore.FORWARD, rangeKey("b", int64(1)), rangeKey("a", int64(1))},
			{tablestore.FORWARD, rangeKey("b", int64(1)), rangeKey("b", int64(1))},
			{tablestore.BACKWARD, rangeKey("a", int64(1)), rangeKey("b", int64(1))},
			{tablestore.FORWARD, rangeKey("a", "x"), rangeKey("b", int64(1))},
		} {
			_, err := c.GetRange(&tablestore.GetRangeRequest{RangeRowQueryCriteria: &tablestore.RangeRowQueryCriteria{
				TableName: "grid", StartPrimaryKey: tc.start, EndPrimaryKey: tc.end, Direction: tc.dir, MaxVersion: 1}})
			wantErr(t, err, "OTSParameterInvalid", 400)
		}
	})
}

func reversed(s []string) []string {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

// TestGetRangePageCaps: a page holds at most 5000 rows, and stops once it
// holds 4 MB, with the next start key in both cases.
func TestGetRangePageCaps(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 5001 rows")
	}
	t.Parallel()
	b := setup(t, "")
	c := b.client
	createTable(t, c, "grid", -1, 1, pkSchema{"g", tablestore.PrimaryKeyType_STRING, false},
		pkSchema{"n", tablestore.PrimaryKeyType_INTEGER, false})
	fillGrid(t, c, "grid", []string{"rows"}, 5001)
	resp, err := c.GetRange(&tablestore.GetRangeRequest{RangeRowQueryCriteria: &tablestore.RangeRowQueryCriteria{
		TableName: "grid", StartPrimaryKey: rangeKey("rows", "min"), EndPrimaryKey: rangeKey("rows", "max"),
		Direction: tablestore.FORWARD, MaxVersion: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Rows) != 5000 || resp.NextStartPrimaryKey == nil || resp.NextStartPrimaryKey.PrimaryKeys[1].Value != int64(5000) {
		t.Fatalf("first page: %d rows, next %+v", len(resp.Rows), resp.NextStartPrimaryKey)
	}

	blob := strings.Repeat("x", 1<<20)
	for i := range 5 {
		if err := put(c, "grid", key("g", "big", "n", int64(i)), tablestore.RowExistenceExpectation_IGNORE, "v", blob); err != nil {
			t.Fatal(err)
		}
	}
	got, pages := 0, 0
	for start := rangeKey("big", "min"); start != nil; pages++ {
		resp, err := c.GetRange(&tablestore.GetRangeRequest{RangeRowQueryCriteria: &tablestore.RangeRowQueryCriteria{
			TableName: "grid", StartPrimaryKey: start, EndPrimaryKey: rangeKey("big", "max"), Direction: tablestore.FORWARD, MaxVersion: 1}})
		if err != nil {
			t.Fatal(err)
		}
		if pages == 0 && len(resp.Rows) != 4 {
			t.Fatalf("first 4 MB page holds %d rows of 1 MB, want 4", len(resp.Rows))
		}
		got += len(resp.Rows)
		start = resp.NextStartPrimaryKey
	}
	if got != 5 || pages != 2 {
		t.Fatalf("%d rows in %d pages, want 5 in 2", got, pages)
	}
}

// TestBatches: BatchGetRow answers in request order with missing rows as
// empty successes; BatchWriteRow answers each row, and refuses a request
// with one primary key twice.
func TestBatches(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	c := b.client
	createTable(t, c, "t1", -1, 1, pkSchema{"id", tablestore.PrimaryKeyType_STRING, false})
	createTable(t, c, "t2", -1, 1, pkSchema{"id", tablestore.PrimaryKeyType_INTEGER, false})
	if err := put(c, "t1", key("id", "x"), tablestore.RowExistenceExpectation_IGNORE, "v", int64(1)); err != nil {
		t.Fatal(err)
	}

	req := &tablestore.BatchWriteRowRequest{}
	p := &tablestore.PutRowChange{TableName: "t1", PrimaryKey: key("id", "x")}
	p.SetCondition(tablestore.RowExistenceExpectation_EXPECT_NOT_EXIST) // fails: exists
	p.AddColumn("v", int64(2))
	req.AddRowChange(p)
	u := &tablestore.UpdateRowChange{TableName: "t1", PrimaryKey: key("id", "y")}
	u.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
	u.IncrementColumn("n", 4)
	u.SetReturnIncrementValue()
	u.AppendIncrementColumnToReturn("n")
	req.AddRowChange(u)
	for i := range int64(3) {
		p := &tablestore.PutRowChange{TableName: "t2", PrimaryKey: key("id", i)}
		p.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
		p.AddColumn("v", i*10)
		req.AddRowChange(p)
	}
	resp, err := c.BatchWriteRow(req)
	if err != nil {
		t.Fatal(err)
	}
	r1 := resp.TableToRowsResult["t1"]
	if len(r1) != 2 || r1[0].IsSucceed || r1[0].Error.Code != "OTSConditionCheckFail" || !r1[1].IsSucceed ||
		len(r1[1].Columns) != 1 || r1[1].Columns[0].Value != int64(4) {
		t.Fatalf("t1 results = %+v", r1)
	}
	if r2 := resp.TableToRowsResult["t2"]; len(r2) != 3 || !r2[0].IsSucceed || !r2[2].IsSucceed {
		t.Fatalf("t2 results = %+v", r2)
	}
	if got := get(t, c, "t1", key("id", "x")); got["v"] != int64(1) {
		t.Fatalf("a failed batch row changed the row: %v", got)
	}

	dup := &tablestore.BatchWriteRowRequest{}
	for range 2 {
		d := &tablestore.DeleteRowChange{TableName: "t1", PrimaryKey: key("id", "x")}
		d.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
		dup.AddRowChange(d)
	}
	_, err = c.BatchWriteRow(dup)
	wantErr(t, err, "OTSParameterInvalid", 400)
	missing := &tablestore.BatchWriteRowRequest{}
	d := &tablestore.DeleteRowChange{TableName: "nope", PrimaryKey: key("id", "x")}
	d.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
	missing.AddRowChange(d)
	_, err = c.BatchWriteRow(missing)
	wantErr(t, err, "OTSObjectNotExist", 404)

	get := &tablestore.BatchGetRowRequest{}
	q1 := &tablestore.MultiRowQueryCriteria{TableName: "t1", MaxVersion: 1}
	q1.AddRow(key("id", "y"))
	q1.AddRow(key("id", "nothing"))
	q1.AddRow(key("id", "x"))
	q2 := &tablestore.MultiRowQueryCriteria{TableName: "t2", MaxVersion: 1, ColumnsToGet: []string{"v"}}
	q2.AddRow(key("id", int64(2)))
	q2.AddRow(key("id", "wrong type"))
	get.MultiRowQueryCriteria = append(get.MultiRowQueryCriteria, q1, q2)
	gr, err := c.BatchGetRow(get)
	if err != nil {
		t.Fatal(err)
	}
	g1 := gr.TableToRowsResult["t1"]
	if len(g1) != 3 || g1[0].Columns[0].Value != int64(4) || !g1[1].IsSucceed || len(g1[1].Columns) != 0 ||
		len(g1[1].PrimaryKey.PrimaryKeys) != 0 || g1[2].Columns[0].Value != int64(1) {
		t.Fatalf("t1 rows = %+v", g1)
	}
	g2 := gr.TableToRowsResult["t2"]
	if len(g2) != 2 || g2[0].Columns[0].Value != int64(20) || g2[1].IsSucceed || g2[1].Error.Code != "OTSParameterInvalid" {
		t.Fatalf("t2 rows = %+v", g2)
	}
}
