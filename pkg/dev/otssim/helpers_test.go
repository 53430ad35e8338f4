package otssim_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/ensnodepool/webhook/pkg/dev/otssim"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
)

const (
	testAK       = "LTAI5tOTSTest"
	testSK       = "ots-test-secret"
	testInstance = "ledger-test"
)

// bundle is a simulator behind an httptest server with an injectable
// clock and an official Go SDK client.
type bundle struct {
	srv    *otssim.Server
	http   *httptest.Server
	clock  *testkit.Clock
	client *tablestore.TableStoreClient
}

// setup starts an in-memory simulator (durable under dir if set); cfg may
// adjust the configuration.
func setup(t testing.TB, dir string, cfg ...func(*otssim.Config)) *bundle {
	t.Helper()
	clock := testkit.NewClock(time.Now())
	c := otssim.Config{AccessKeyID: testAK, AccessKeySecret: testSK, Dir: dir, Now: clock.Now}
	for _, f := range cfg {
		f(&c)
	}
	srv, err := otssim.New(c)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	b := &bundle{srv: srv, http: hs, clock: clock}
	b.client = newClient(t, hs.URL, testInstance, testAK, testSK, "", 10)
	return b
}

// newClient is an official Go SDK client; retries is its RetryTimes.
func newClient(t testing.TB, endpoint, instance, ak, sk, token string, retries uint) *tablestore.TableStoreClient {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	cfg := tablestore.NewDefaultTableStoreConfig()
	cfg.Transport = tr
	cfg.RetryTimes = retries
	return tablestore.NewClientWithConfig(endpoint, instance, ak, sk, token, cfg)
}

// otsErr returns the code and HTTP status of an SDK error, failing the
// test if err is not an *OtsError.
func otsErr(t *testing.T, err error) (string, int) {
	t.Helper()
	var oe *tablestore.OtsError
	if !errors.As(err, &oe) {
		t.Fatalf("want an OtsError, got %T %v", err, err)
	}
	return oe.Code, oe.HttpStatusCode
}

// wantErr fails unless err is an OtsError with code and status.
func wantErr(t *testing.T, err error, code string, status int) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s (%d), got success", code, status)
	}
	if c, s := otsErr(t, err); c != code || s != status {
		t.Fatalf("want %s (%d), got %s (%d): %v", code, status, c, s, err)
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// pkSchema is one primary key column for createTable.
type pkSchema struct {
	name string
	typ  tablestore.PrimaryKeyType
	auto bool
}

// createTable creates a table with the given TTL, max versions and key.
func createTable(t testing.TB, c *tablestore.TableStoreClient, name string, ttl, maxVersions int, pk ...pkSchema) {
	t.Helper()
	meta := &tablestore.TableMeta{TableName: name}
	for _, p := range pk {
		if p.auto {
			meta.AddPrimaryKeyColumnOption(p.name, p.typ, tablestore.AUTO_INCREMENT)
		} else {
			meta.AddPrimaryKeyColumn(p.name, p.typ)
		}
	}
	_, err := c.CreateTable(&tablestore.CreateTableRequest{TableMeta: meta,
		TableOption:        &tablestore.TableOption{TimeToAlive: ttl, MaxVersion: maxVersions},
		ReservedThroughput: &tablestore.ReservedThroughput{}})
	if err != nil {
		t.Fatalf("CreateTable %s: %v", name, err)
	}
}

// key builds a primary key from name/value pairs.
func key(kv ...any) *tablestore.PrimaryKey {
	pk := &tablestore.PrimaryKey{}
	for i := 0; i < len(kv); i += 2 {
		pk.AddPrimaryKeyColumn(kv[i].(string), kv[i+1])
	}
	return pk
}

// put writes a row with condition cond and attribute name/value pairs.
func put(c *tablestore.TableStoreClient, table string, pk *tablestore.PrimaryKey, cond tablestore.RowExistenceExpectation, kv ...any) error {
	ch := &tablestore.PutRowChange{TableName: table, PrimaryKey: pk}
	ch.SetCondition(cond)
	for i := 0; i < len(kv); i += 2 {
		ch.AddColumn(kv[i].(string), kv[i+1])
	}
	_, err := c.PutRow(&tablestore.PutRowRequest{PutRowChange: ch})
	return err
}

// get reads the latest version of a row's columns as name → value (nil:
// no row).
func get(t *testing.T, c *tablestore.TableStoreClient, table string, pk *tablestore.PrimaryKey) map[string]any {
	t.Helper()
	resp, err := c.GetRow(&tablestore.GetRowRequest{SingleRowQueryCriteria: &tablestore.SingleRowQueryCriteria{
		TableName: table, PrimaryKey: pk, MaxVersion: 1}})
	if err != nil {
		t.Fatalf("GetRow: %v", err)
	}
	if len(resp.PrimaryKey.PrimaryKeys) == 0 {
		return nil
	}
	out := map[string]any{}
	for _, col := range resp.Columns {
		out[col.ColumnName] = col.Value
	}
	return out
}
