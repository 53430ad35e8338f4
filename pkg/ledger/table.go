package ledger

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
)

// deviationSeconds is the table's deviation_cell_version_in_sec. The ledger
// lets the server stamp every cell, so any value works; the SDK needs one.
const deviationSeconds = 86400

// Drift is one difference between the deployed table and what the ledger
// needs.
type Drift struct {
	// Table is the table name.
	Table string
	// Attribute is "Table" when the table does not exist, "PrimaryKey",
	// "TimeToLive" (seconds) or "MaxVersions".
	Attribute string
	// Want and Got are the values.
	Want, Got string
}

// String describes d on one line.
func (d Drift) String() string {
	return fmt.Sprintf("%s: %s is %s, want %s", d.Table, d.Attribute, d.Got, d.Want)
}

// wantPK is the table's primary key schema.
const wantPK = "pk STRING, sk STRING"

// CheckTable reads the table's description and reports each difference
// from what the ledger needs, and the table itself when it does not exist.
// An error is a failure to read, not a drift.
func (l *Ledger) CheckTable(ctx context.Context) ([]Drift, error) {
	var resp *tablestore.DescribeTableResponse
	err := l.call(ctx, "check table", func() (err error) {
		resp, err = l.db.DescribeTable(&tablestore.DescribeTableRequest{TableName: l.cfg.Table})
		return err
	})
	if hasCode(err, codeNotExist) {
		return []Drift{{Table: l.cfg.Table, Attribute: "Table", Want: "exists", Got: "missing"}}, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Drift
	add := func(attr, want, got string) {
		if want != got {
			out = append(out, Drift{Table: l.cfg.Table, Attribute: attr, Want: want, Got: got})
		}
	}
	add("PrimaryKey", wantPK, describePK(resp.TableMeta))
	if o := resp.TableOption; o != nil {
		add("TimeToLive", strconv.Itoa(l.cfg.ttlSeconds()), strconv.Itoa(o.TimeToAlive))
		add("MaxVersions", "1", strconv.Itoa(o.MaxVersion))
	}
	return out, nil
}

// describePK spells a primary key schema as wantPK does.
func describePK(m *tablestore.TableMeta) string {
	if m == nil {
		return ""
	}
	names := map[tablestore.PrimaryKeyType]string{
		tablestore.PrimaryKeyType_INTEGER: "INTEGER", tablestore.PrimaryKeyType_STRING: "STRING", tablestore.PrimaryKeyType_BINARY: "BINARY",
	}
	s := ""
	for i, e := range m.SchemaEntry {
		if i > 0 {
			s += ", "
		}
		if e.Name != nil && e.Type != nil {
			s += *e.Name + " " + names[*e.Type]
		}
	}
	return s
}

// EnsureTable creates the table when it does not exist (primary key pk,
// sk; one version; time to live Config.Retention) and leaves an existing
// one as it is, returning its drifts (FixTable repairs the options).
// Running it again creates nothing. A new table may answer
// OTSTableNotReady for a short while; the SDK retries that.
func (l *Ledger) EnsureTable(ctx context.Context) (created bool, drifts []Drift, err error) {
	before, err := l.CheckTable(ctx)
	if err != nil {
		return false, nil, err
	}
	if len(before) == 0 || before[0].Attribute != "Table" {
		return false, before, nil
	}
	meta := &tablestore.TableMeta{TableName: l.cfg.Table}
	meta.AddPrimaryKeyColumn(colPK, tablestore.PrimaryKeyType_STRING)
	meta.AddPrimaryKeyColumn(colSK, tablestore.PrimaryKeyType_STRING)
	opt := tablestore.NewTableOption(l.cfg.ttlSeconds(), 1)
	opt.DeviationCellVersionInSec = deviationSeconds
	err = l.call(ctx, "create table", func() error {
		_, err := l.db.CreateTable(&tablestore.CreateTableRequest{
			TableMeta: meta, TableOption: opt, ReservedThroughput: &tablestore.ReservedThroughput{},
		})
		return err
	})
	if hasCode(err, codeAlreadyExist) { // another caller created it first
		drifts, err := l.CheckTable(ctx)
		return false, drifts, err
	}
	return err == nil, nil, err
}

// FixTable sets the table's time to live and versions to what the ledger
// needs (UpdateTable; Tablestore allows one per table every two minutes).
// A primary key cannot be changed: recreate the table for that.
func (l *Ledger) FixTable(ctx context.Context) error {
	opt := tablestore.NewTableOption(l.cfg.ttlSeconds(), 1)
	opt.DeviationCellVersionInSec = deviationSeconds
	return l.call(ctx, "fix table", func() error {
		_, err := l.db.UpdateTable(&tablestore.UpdateTableRequest{TableName: l.cfg.Table, TableOption: opt})
		return err
	})
}

// DeleteTable deletes the table and every record in it; a missing table is
// not an error.
func (l *Ledger) DeleteTable(ctx context.Context) error {
	err := l.call(ctx, "delete table", func() error {
		_, err := l.db.DeleteTable(&tablestore.DeleteTableRequest{TableName: l.cfg.Table})
		return err
	})
	if hasCode(err, codeNotExist) {
		return nil
	}
	return err
}
