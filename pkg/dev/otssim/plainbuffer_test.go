package otssim

import (
	"bytes"
	"encoding/hex"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPlainBufferGolden: the key {id: "a"} as both official SDKs write it,
// as a primary key and as a DeleteRow change.
func TestPlainBufferGolden(t *testing.T) {
	pk := unhex(t, "75000000 01 03 04 02000000 6964 05 06000000 03 01000000 61 0a 91 09 f4")
	del := unhex(t, "75000000 01 03 04 02000000 6964 05 06000000 03 01000000 61 0a 91 08 09 f3")
	r := row{pk: []cell{{name: "id", val: stringValue("a"), hasVal: true}}}
	if got := encodeRows(r); !bytes.Equal(got, pk) {
		t.Errorf("encode = % x\nwant     % x", got, pk)
	}
	r.deleted = true
	if got := encodeRows(r); !bytes.Equal(got, del) {
		t.Errorf("encode delete = % x\nwant            % x", got, del)
	}
	for _, b := range [][]byte{pk, del} {
		got, err := decodeRow(b)
		if err != nil || len(got.pk) != 1 || got.pk[0].name != "id" || string(got.pk[0].val.str) != "a" || got.deleted != (len(b) == len(del)) {
			t.Errorf("decode % x = %+v, %v", b, got, err)
		}
	}
	// The SDK's own encoder agrees.
	sdk := &tablestore.PrimaryKey{}
	sdk.AddPrimaryKeyColumn("id", "a")
	if got := sdk.Build(false); !bytes.Equal(got, pk) {
		t.Errorf("SDK Build = % x", got)
	}
}

// TestPlainBufferSDKRows: rows the Go SDK writes (puts with timestamps,
// update operations, bounds) decode to what was written, and re-encode
// to the same bytes.
func TestPlainBufferSDKRows(t *testing.T) {
	put := &tablestore.PutRowChange{TableName: "t", PrimaryKey: &tablestore.PrimaryKey{}}
	put.PrimaryKey.AddPrimaryKeyColumn("s", "k")
	put.PrimaryKey.AddPrimaryKeyColumn("i", int64(-3))
	put.PrimaryKey.AddPrimaryKeyColumn("b", []byte{0, 1})
	put.AddColumn("str", "v")
	put.AddColumn("int", int64(math.MinInt64))
	put.AddColumn("dbl", math.Inf(-1))
	put.AddColumn("bool", true)
	put.AddColumn("bin", []byte{})
	put.AddColumnWithTimestamp("ts", int64(1), 1700000000123)
	upd := &tablestore.UpdateRowChange{TableName: "t", PrimaryKey: &tablestore.PrimaryKey{}}
	upd.PrimaryKey.AddPrimaryKeyColumn("s", "k")
	upd.PutColumn("p", "x")
	upd.DeleteColumn("d")
	upd.DeleteColumnWithTimestamp("d1", 42)
	upd.IncrementColumn("n", -5)
	bound := &tablestore.PrimaryKey{}
	bound.AddPrimaryKeyColumnWithMinValue("a")
	bound.AddPrimaryKeyColumnWithMaxValue("b")
	auto := &tablestore.PrimaryKey{}
	auto.AddPrimaryKeyColumnWithAutoIncrement("a")

	for name, b := range map[string][]byte{"put": put.Serialize(), "update": upd.Serialize(), "bound": bound.Build(false), "auto": auto.Build(false)} {
		r, err := decodeRow(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := encodeRows(r); !bytes.Equal(got, b) {
			t.Errorf("%s: re-encoded % x\nSDK wrote    % x", name, got, b)
		}
		switch name {
		case "put":
			if len(r.pk) != 3 || r.pk[1].val.num != -3 || len(r.cells) != 6 || r.cells[2].val.float() != math.Inf(-1) ||
				!r.cells[5].hasTS || r.cells[5].ts != 1700000000123 || r.cells[4].val.t != vtBlob {
				t.Errorf("put decoded as %+v", r)
			}
		case "update":
			ops := []cellOp{r.cells[0].op, r.cells[1].op, r.cells[2].op, r.cells[3].op}
			if !slices.Equal(ops, []cellOp{opPut, opDeleteAll, opDeleteOne, opIncrement}) || r.cells[2].ts != 42 || r.cells[3].val.num != -5 {
				t.Errorf("update decoded as %+v", r.cells)
			}
		case "bound":
			if r.pk[0].val.t != vtInfMin || r.pk[1].val.t != vtInfMax {
				t.Errorf("bound decoded as %+v", r.pk)
			}
		case "auto":
			if r.pk[0].val.t != vtAutoInc {
				t.Errorf("auto decoded as %+v", r.pk)
			}
		}
	}
}

// TestRowKeyOrder: the store keys of primary keys sort as Tablestore
// sorts rows, and bounds with INF_MIN/INF_MAX fall where they should.
func TestRowKeyOrder(t *testing.T) {
	ordered := [][]value{
		{stringValue(""), intValue(math.MinInt64)},
		{stringValue(""), intValue(0)},
		{stringValue("a"), intValue(-1)},
		{stringValue("a"), intValue(0)},
		{stringValue("a"), intValue(math.MaxInt64)},
		{stringValue("a\x00"), intValue(0)},
		{stringValue("a\x00\x00"), intValue(-5)},
		{stringValue("a\x01"), intValue(0)},
		{stringValue("ab"), intValue(0)},
		{stringValue("b"), intValue(0)},
		{stringValue("\xff\xff"), intValue(0)},
	}
	for i := 1; i < len(ordered); i++ {
		if bytes.Compare(rowKey(ordered[i-1]), rowKey(ordered[i])) >= 0 {
			t.Errorf("key of %v not below key of %v", ordered[i-1], ordered[i])
		}
	}
	minA := []value{stringValue("a"), {t: vtInfMin}}
	maxA := []value{stringValue("a"), {t: vtInfMax}}
	for i, pk := range ordered {
		inA := string(pk[0].str) == "a"
		k := rowKey(pk)
		if ge := bytes.Compare(k, geKey(minA)) >= 0; ge != (i >= 2) {
			t.Errorf("%v ≥ (a, INF_MIN) = %v", pk, ge)
		}
		if lt := keyBelow(k, geKey(maxA)); lt != (i <= 4) {
			t.Errorf("%v < (a, INF_MAX) = %v", pk, lt)
		}
		if inA != (i >= 2 && i <= 4) {
			t.Fatal("test table out of order")
		}
		// gtKey: row > bound.
		if gt := bytes.Compare(k, gtKey(ordered[3])) >= 0; gt != (i > 3) {
			t.Errorf("%v > %v = %v", pk, ordered[3], gt)
		}
	}
	if geKey([]value{{t: vtInfMax}}) != nil || geKey([]value{{t: vtInfMin}}) == nil {
		t.Error("whole-table bounds")
	}
}
