package otssim_test

import (
	"slices"
	"testing"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/ensnodepool/webhook/pkg/dev/otssim"
)

// TestTables drives the table operations with the official Go SDK:
// create (TTL, max versions), list, describe, update, delete, and their
// errors.
func TestTables(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	c := b.client
	createTable(t, c, "ledger", 86400*30, 3, pkSchema{"id", tablestore.PrimaryKeyType_STRING, false},
		pkSchema{"seq", tablestore.PrimaryKeyType_INTEGER, true})
	createTable(t, c, "audit", -1, 1, pkSchema{"k", tablestore.PrimaryKeyType_BINARY, false})

	t.Run("AlreadyExists", func(t *testing.T) {
		meta := &tablestore.TableMeta{TableName: "ledger"}
		meta.AddPrimaryKeyColumn("id", tablestore.PrimaryKeyType_STRING)
		_, err := c.CreateTable(&tablestore.CreateTableRequest{TableMeta: meta,
			TableOption: tablestore.NewTableOption(-1, 1), ReservedThroughput: &tablestore.ReservedThroughput{}})
		wantErr(t, err, "OTSObjectAlreadyExist", 409)
	})
	t.Run("InvalidOptions", func(t *testing.T) {
		for _, tc := range []struct {
			name     string
			ttl, ver int
			pk       []pkSchema
		}{
			{"ttl_too_short", 3600, 1, []pkSchema{{"id", tablestore.PrimaryKeyType_STRING, false}}},
			{"no_versions", -1, 0, []pkSchema{{"id", tablestore.PrimaryKeyType_STRING, false}}},
			{"auto_partition_key", -1, 1, []pkSchema{{"id", tablestore.PrimaryKeyType_INTEGER, true}}},
			{"bad-name", -1, 1, []pkSchema{{"id", tablestore.PrimaryKeyType_STRING, false}}},
		} {
			meta := &tablestore.TableMeta{TableName: tc.name}
			for _, p := range tc.pk {
				if p.auto {
					meta.AddPrimaryKeyColumnOption(p.name, p.typ, tablestore.AUTO_INCREMENT)
				} else {
					meta.AddPrimaryKeyColumn(p.name, p.typ)
				}
			}
			_, err := c.CreateTable(&tablestore.CreateTableRequest{TableMeta: meta,
				TableOption: tablestore.NewTableOption(tc.ttl, tc.ver), ReservedThroughput: &tablestore.ReservedThroughput{}})
			wantErr(t, err, "OTSParameterInvalid", 400)
		}
	})
	t.Run("List", func(t *testing.T) {
		got, err := c.ListTable()
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"audit", "ledger"}; !slices.Equal(got.TableNames, want) {
			t.Fatalf("ListTable = %v, want %v", got.TableNames, want)
		}
		// Another instance of the same account has its own tables.
		other := newClient(t, b.http.URL, "other-inst", testAK, testSK, "", 0)
		got, err = other.ListTable()
		if err != nil || len(got.TableNames) != 0 {
			t.Fatalf("other instance ListTable = %v, %v; want none", got.TableNames, err)
		}
	})
	t.Run("Describe", func(t *testing.T) {
		d, err := c.DescribeTable(&tablestore.DescribeTableRequest{TableName: "ledger"})
		if err != nil {
			t.Fatal(err)
		}
		if d.TableOption.TimeToAlive != 86400*30 || d.TableOption.MaxVersion != 3 || d.TableOption.DeviationCellVersionInSec != 86400 {
			t.Errorf("options = %+v", d.TableOption)
		}
		if len(d.TableMeta.SchemaEntry) != 2 || *d.TableMeta.SchemaEntry[0].Name != "id" ||
			*d.TableMeta.SchemaEntry[1].Type != tablestore.PrimaryKeyType_INTEGER || d.TableMeta.SchemaEntry[1].Option == nil {
			t.Errorf("schema = %+v", d.TableMeta.SchemaEntry)
		}
		_, err = c.DescribeTable(&tablestore.DescribeTableRequest{TableName: "nope"})
		wantErr(t, err, "OTSObjectNotExist", 404)
	})
	t.Run("Update", func(t *testing.T) {
		u, err := c.UpdateTable(&tablestore.UpdateTableRequest{TableName: "ledger",
			TableOption:        &tablestore.TableOption{TimeToAlive: -1, MaxVersion: 5},
			ReservedThroughput: &tablestore.ReservedThroughput{Readcap: 1, Writecap: 2}})
		if err != nil {
			t.Fatal(err)
		}
		if u.TableOption.TimeToAlive != -1 || u.TableOption.MaxVersion != 5 || u.ReservedThroughput.Writecap != 2 {
			t.Errorf("UpdateTable answered %+v %+v", u.TableOption, u.ReservedThroughput)
		}
		d, err := c.DescribeTable(&tablestore.DescribeTableRequest{TableName: "ledger"})
		if err != nil || d.TableOption.TimeToAlive != -1 || d.TableOption.MaxVersion != 5 || d.ReservedThroughput.Readcap != 1 {
			t.Errorf("after UpdateTable: %+v %+v %v", d.TableOption, d.ReservedThroughput, err)
		}
		_, err = c.UpdateTable(&tablestore.UpdateTableRequest{TableName: "ledger", TableOption: &tablestore.TableOption{TimeToAlive: 60, MaxVersion: 1}})
		wantErr(t, err, "OTSParameterInvalid", 400)
		_, err = c.UpdateTable(&tablestore.UpdateTableRequest{TableName: "nope", TableOption: tablestore.NewTableOption(-1, 1)})
		wantErr(t, err, "OTSObjectNotExist", 404)
	})
	t.Run("Delete", func(t *testing.T) {
		if err := put(c, "audit", key("k", []byte{0, 1}), tablestore.RowExistenceExpectation_IGNORE, "v", int64(1)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DeleteTable(&tablestore.DeleteTableRequest{TableName: "audit"}); err != nil {
			t.Fatal(err)
		}
		_, err := c.DeleteTable(&tablestore.DeleteTableRequest{TableName: "audit"})
		wantErr(t, err, "OTSObjectNotExist", 404)
		err = put(c, "audit", key("k", []byte{0, 1}), tablestore.RowExistenceExpectation_IGNORE, "v", int64(1))
		wantErr(t, err, "OTSObjectNotExist", 404)
		// A table created again under the name starts empty.
		createTable(t, c, "audit", -1, 1, pkSchema{"k", tablestore.PrimaryKeyType_BINARY, false})
		if got := get(t, c, "audit", key("k", []byte{0, 1})); got != nil {
			t.Fatalf("recreated table holds %v", got)
		}
	})
}

// TestRestart: tables (with updated options), rows and the auto-increment
// counter survive closing the service and opening its data directory again.
func TestRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := setup(t, dir)
	createTable(t, b.client, "events", -1, 1, pkSchema{"shard", tablestore.PrimaryKeyType_STRING, false},
		pkSchema{"seq", tablestore.PrimaryKeyType_INTEGER, true})
	if _, err := b.client.UpdateTable(&tablestore.UpdateTableRequest{TableName: "events", TableOption: tablestore.NewTableOption(86400*7, 3)}); err != nil {
		t.Fatal(err)
	}
	putAuto := func(c *tablestore.TableStoreClient) int64 {
		t.Helper()
		pk := &tablestore.PrimaryKey{}
		pk.AddPrimaryKeyColumn("shard", "s")
		pk.AddPrimaryKeyColumnWithAutoIncrement("seq")
		ch := &tablestore.PutRowChange{TableName: "events", PrimaryKey: pk}
		ch.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
		ch.AddColumn("v", "x")
		ch.SetReturnPk()
		resp, err := c.PutRow(&tablestore.PutRowRequest{PutRowChange: ch})
		if err != nil {
			t.Fatal(err)
		}
		return resp.PrimaryKey.PrimaryKeys[1].Value.(int64)
	}
	first := putAuto(b.client)
	b.http.Close()
	if err := b.srv.Close(); err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(-time.Hour) // a clock that went back must not reuse a key

	again := setup(t, dir, func(c *otssim.Config) { c.Now, c.MaxClockSkew = b.clock.Now, 2*time.Hour })
	d, err := again.client.DescribeTable(&tablestore.DescribeTableRequest{TableName: "events"})
	if err != nil || d.TableOption.TimeToAlive != 86400*7 || d.TableOption.MaxVersion != 3 {
		t.Fatalf("after restart: %+v, %v", d, err)
	}
	if got := get(t, again.client, "events", key("shard", "s", "seq", first)); got["v"] != "x" {
		t.Fatalf("row after restart: %v", got)
	}
	if next := putAuto(again.client); next <= first {
		t.Fatalf("auto-increment after restart %d, not above %d", next, first)
	}
}
