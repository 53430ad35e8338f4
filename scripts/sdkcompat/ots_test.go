package sdkcompat_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/ensnodepool/webhook/pkg/dev/otssim"
)

// The Tablestore simulator's key pair and instance (test-only values),
// and the table of the cross-language round trip.
const (
	otsKeyID, otsSecret = "LTAI5tCompatOTS", "compat-ots-secret"
	otsInstance         = "compat-inst"
	otsInteropTable     = "interop_ots"
)

// otsRequiredChecks are ots.mjs's checks (see requiredChecks).
var otsRequiredChecks = []string{
	"ots.createTable", "ots.putRow.expectNotExist", "ots.putRow.expectNotExist.again", "ots.getRow",
	"ots.updateRow.conditionAndIncrement", "ots.updateRow.conditionFails", "ots.batchWriteRow",
	"ots.batchWriteRow.noCondition", "ots.deleteRow", "ots.getRange.forward", "ots.getRange.backward",
	"ots.batchGetRow", "ots.badSecret", "ots.interop.fromGo", "ots.interop.toGo", "ots.deleteTable",
}

// otsSide is the Go half of the Tablestore checks: the simulator, and a Go
// SDK client that prepared the round trip's table.
type otsSide struct {
	srv    *otssim.Server
	url    string
	client *tablestore.TableStoreClient
}

// startOTS starts the simulator, creates the round trip's table with the
// official Go SDK and writes the row the Node.js SDK must read.
func startOTS(t *testing.T) *otsSide {
	t.Helper()
	srv, err := otssim.New(otssim.Config{AccessKeyID: otsKeyID, AccessKeySecret: otsSecret})
	if err != nil {
		t.Fatalf("otssim.New: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	cfg := tablestore.NewDefaultTableStoreConfig()
	cfg.Transport = tr
	c := tablestore.NewClientWithConfig(hs.URL, otsInstance, otsKeyID, otsSecret, "", cfg)
	meta := &tablestore.TableMeta{TableName: otsInteropTable}
	meta.AddPrimaryKeyColumn("id", tablestore.PrimaryKeyType_STRING)
	if _, err := c.CreateTable(&tablestore.CreateTableRequest{TableMeta: meta, TableOption: tablestore.NewTableOption(-1, 1),
		ReservedThroughput: &tablestore.ReservedThroughput{}}); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	pk := &tablestore.PrimaryKey{}
	pk.AddPrimaryKeyColumn("id", "from-go")
	ch := &tablestore.PutRowChange{TableName: otsInteropTable, PrimaryKey: pk}
	ch.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
	ch.AddColumn("name", "池")
	ch.AddColumn("n", int64(42))
	if _, err := c.PutRow(&tablestore.PutRowRequest{PutRowChange: ch}); err != nil {
		t.Fatalf("PutRow: %v", err)
	}
	return &otsSide{srv: srv, url: hs.URL, client: c}
}

func (o *otsSide) env() []string {
	return []string{"OTS_ENDPOINT=" + o.url, "OTS_ACCESS_KEY_ID=" + otsKeyID, "OTS_ACCESS_KEY_SECRET=" + otsSecret,
		"OTS_INSTANCE=" + otsInstance, "OTS_INTEROP_TABLE=" + otsInteropTable}
}

// verify reads the row the Node.js SDK wrote with the Go SDK, and checks
// that the simulator saw the checks' traffic.
func (o *otsSide) verify(t *testing.T) {
	t.Helper()
	pk := &tablestore.PrimaryKey{}
	pk.AddPrimaryKeyColumn("id", "from-node")
	resp, err := o.client.GetRow(&tablestore.GetRowRequest{SingleRowQueryCriteria: &tablestore.SingleRowQueryCriteria{
		TableName: otsInteropTable, PrimaryKey: pk, MaxVersion: 1}})
	if err != nil {
		t.Fatalf("Go GetRow of the Node SDK's row: %v", err)
	}
	got := map[string]any{}
	for _, c := range resp.Columns {
		got[c.ColumnName] = c.Value
	}
	if got["name"] != "ü" || got["n"] != int64(-7) || got["f"] != 1.5 {
		t.Errorf("Go read the Node SDK's row as %v, want name ü, n -7 (INTEGER), f 1.5 (DOUBLE)", got)
	}
	st, err := o.srv.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("otssim calls %v, errors %v", st.Calls, st.Errors)
	if st.Calls["GetRange"] < 7 || st.Errors["OTSConditionCheckFail"] < 2 || st.Errors["OTSAuthFailed"] < 1 {
		t.Errorf("otssim saw %v calls and %v errors; want the Node checks' GetRange pages, condition failures and a bad signature", st.Calls, st.Errors)
	}
}
