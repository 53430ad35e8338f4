package otssim

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
)

// FuzzPlainBuffer: the decoder never panics, and what it accepts encodes
// to a buffer that decodes to the same rows.
func FuzzPlainBuffer(f *testing.F) {
	put := &tablestore.PutRowChange{PrimaryKey: &tablestore.PrimaryKey{}}
	put.PrimaryKey.AddPrimaryKeyColumn("id", "a")
	put.PrimaryKey.AddPrimaryKeyColumn("n", int64(7))
	put.AddColumn("s", "x")
	put.AddColumn("f", 1.5)
	put.AddColumn("b", false)
	put.AddColumnWithTimestamp("t", []byte{1, 2}, 99)
	upd := &tablestore.UpdateRowChange{PrimaryKey: &tablestore.PrimaryKey{}}
	upd.PrimaryKey.AddPrimaryKeyColumnWithMaxValue("id")
	upd.DeleteColumnWithTimestamp("d", 5)
	upd.IncrementColumn("n", 1)
	for _, s := range [][]byte{put.Serialize(), upd.Serialize(), append(put.Serialize(), 0, 0, 0), {0x75, 0, 0, 0}, nil} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeVariant(b)
		rows, err := decodeRows(b)
		if err != nil {
			return
		}
		again, err := decodeRows(encodeRows(rows...))
		if err != nil {
			t.Fatalf("re-encoded rows do not decode: %v", err)
		}
		if !reflect.DeepEqual(normalize(rows), normalize(again)) {
			t.Fatalf("round trip changed the rows:\n%+v\n%+v", rows, again)
		}
	})
}

// normalize makes nil and empty byte slices equal for comparison.
func normalize(rows []row) []row {
	for i := range rows {
		for _, cs := range [][]cell{rows[i].pk, rows[i].cells} {
			for j := range cs {
				if len(cs[j].val.str) == 0 {
					cs[j].val.str = nil
				}
			}
		}
	}
	return rows
}

// FuzzRequest signs arbitrary bodies for every operation and serves them:
// nothing panics, and no request is answered with an internal error.
func FuzzRequest(f *testing.F) {
	srv, err := New(Config{AccessKeyID: "ak", AccessKeySecret: "sk"})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = srv.Close() })
	mustMarshal := func(m protoadapt.MessageV1) []byte {
		b, err := proto.MarshalOptions{AllowPartial: true}.Marshal(protoadapt.MessageV2Of(m))
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	pk := &tablestore.PrimaryKey{}
	pk.AddPrimaryKeyColumn("id", "a")
	pk.AddPrimaryKeyColumn("n", int64(1))
	put := &tablestore.PutRowChange{PrimaryKey: pk}
	put.AddColumn("v", int64(1))
	ignore := &otsprotocol.Condition{RowExistence: otsprotocol.RowExistenceExpectation_IGNORE.Enum()}
	cond := tablestore.NewSingleColumnCondition("v", tablestore.CT_GREATER_THAN, int64(0)).Serialize()
	seeds := map[string]protoadapt.MessageV1{
		"CreateTable": &otsprotocol.CreateTableRequest{TableMeta: &otsprotocol.TableMeta{TableName: new("t"), PrimaryKey: []*otsprotocol.PrimaryKeySchema{
			{Name: new("id"), Type: otsprotocol.PrimaryKeyType_STRING.Enum()}, {Name: new("n"), Type: otsprotocol.PrimaryKeyType_INTEGER.Enum()}}},
			ReservedThroughput: &otsprotocol.ReservedThroughput{CapacityUnit: &otsprotocol.CapacityUnit{Read: new(int32(0)), Write: new(int32(0))}},
			TableOptions:       &otsprotocol.TableOptions{TimeToLive: new(int32(-1)), MaxVersions: new(int32(2))}},
		"PutRow": &otsprotocol.PutRowRequest{TableName: new("t"), Row: put.Serialize(),
			Condition: &otsprotocol.Condition{RowExistence: otsprotocol.RowExistenceExpectation_IGNORE.Enum(), ColumnCondition: cond}},
		"GetRow":    &otsprotocol.GetRowRequest{TableName: new("t"), PrimaryKey: pk.Build(false), MaxVersions: new(int32(1)), Filter: cond},
		"UpdateRow": &otsprotocol.UpdateRowRequest{TableName: new("t"), RowChange: put.Serialize(), Condition: ignore},
		"DeleteRow": &otsprotocol.DeleteRowRequest{TableName: new("t"), PrimaryKey: pk.Build(true), Condition: ignore},
		"GetRange": &otsprotocol.GetRangeRequest{TableName: new("t"), Direction: otsprotocol.Direction_BACKWARD.Enum(),
			InclusiveStartPrimaryKey: pk.Build(false), ExclusiveEndPrimaryKey: pk.Build(false), MaxVersions: new(int32(1)), Limit: new(int32(2))},
		"BatchGetRow": &otsprotocol.BatchGetRowRequest{Tables: []*otsprotocol.TableInBatchGetRowRequest{
			{TableName: new("t"), PrimaryKey: [][]byte{pk.Build(false)}, MaxVersions: new(int32(1))}}},
		"BatchWriteRow": &otsprotocol.BatchWriteRowRequest{Tables: []*otsprotocol.TableInBatchWriteRowRequest{{TableName: new("t"),
			Rows: []*otsprotocol.RowInBatchWriteRowRequest{{Type: otsprotocol.OperationType_UPDATE.Enum(), RowChange: put.Serialize(), Condition: ignore}}}}},
		"UpdateTable":   &otsprotocol.UpdateTableRequest{TableName: new("t"), TableOptions: &otsprotocol.TableOptions{MaxVersions: new(int32(3))}},
		"DescribeTable": &otsprotocol.DescribeTableRequest{TableName: new("t")},
		"DeleteTable":   &otsprotocol.DeleteTableRequest{TableName: new("t")},
	}
	names := []string{"CreateTable", "PutRow", "GetRow", "UpdateRow", "DeleteRow", "GetRange", "BatchGetRow",
		"BatchWriteRow", "UpdateTable", "DescribeTable", "DeleteTable", "ListTable"}
	serve := func(op string, body []byte) int {
		req := httptest.NewRequest(http.MethodPost, "/"+op, bytes.NewReader(body))
		sum := md5.Sum(body)
		req.Header.Set("x-ots-date", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"))
		req.Header.Set("x-ots-apiversion", APIVersion)
		req.Header.Set("x-ots-accesskeyid", "ak")
		req.Header.Set("x-ots-instancename", "fuzz")
		req.Header.Set("x-ots-contentmd5", base64.StdEncoding.EncodeToString(sum[:]))
		req.Header.Set("x-ots-signature", Sign("sk", op, req.Header))
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec.Code
	}
	serve("CreateTable", mustMarshal(seeds["CreateTable"]))
	for i, op := range names {
		if m := seeds[op]; m != nil {
			f.Add(uint8(i), mustMarshal(m))
		}
	}
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		name := names[int(op)%len(names)]
		if name == "DeleteTable" {
			name = "DescribeTable" // keep the table for the other inputs
		}
		if code := serve(name, body); code >= 500 {
			t.Fatalf("%s answered %d", name, code)
		}
	})
}
