package otssim

// Table operations: CreateTable, ListTable, DescribeTable, UpdateTable,
// DeleteTable (https://www.alibabacloud.com/help/en/tablestore/developer-reference/api-createtable
// and its sibling pages; limits from
// https://www.alibabacloud.com/help/en/tablestore/limits-on-widecolumn-model).

import (
	"slices"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/protoadapt"
)

// Documented limits.
const (
	maxTables      = 64
	maxPKColumns   = 4
	maxReservedCU  = 100000
	minTTL         = 86400
	maxPKValueSize = 1024
)

// table returns the table's description (callers hold s.mu).
func (s *Server) table(instance, name string) (*tableMeta, error) {
	m := s.tables[string(tableKey(instance, name))]
	if m == nil {
		return nil, errNoTable()
	}
	return m, nil
}

func (s *Server) createTable(c *call) (protoadapt.MessageV1, error) {
	req := &otsprotocol.CreateTableRequest{}
	if err := decode(c.body, req); err != nil {
		return nil, err
	}
	m, err := s.newTableMeta(c, req)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tables[string(m.key())] != nil {
		return nil, newErr(CodeObjectAlreadyExist, "Requested table already exists.")
	}
	n := 0
	for _, t := range s.tables {
		if t.Instance == c.instance {
			n++
		}
	}
	if n >= maxTables {
		return nil, newErr(CodeQuotaExhausted, "Number of tables exceeded the quota of %d.", maxTables)
	}
	if err := s.st.update(func(tx *bolt.Tx) error { return putTable(tx, m) }); err != nil {
		return nil, err
	}
	s.tables[string(m.key())] = m
	return nil, nil
}

// newTableMeta validates a CreateTableRequest.
func (s *Server) newTableMeta(c *call, req *otsprotocol.CreateTableRequest) (*tableMeta, error) {
	tm := req.GetTableMeta()
	m := &tableMeta{Instance: c.instance, Name: tm.GetTableName(), MaxVersions: 1, TTL: -1,
		Deviation: s.cfg.DefaultDeviation, AllowUpdate: true, Created: c.now.Unix(), Increased: c.now.Unix()}
	if !validName(m.Name) {
		return nil, errParam("Invalid table name: '%s'.", m.Name)
	}
	if len(req.GetIndexMetas()) > 0 || len(req.GetPartitions()) > 0 || req.GetStreamSpec().GetEnableStream() ||
		req.GetSseSpec().GetEnable() || req.GetEnableLocalTxn() {
		return nil, errParam("Indexes, partitions, streams, server-side encryption and local transactions are not supported by this simulator.")
	}
	pk, err := validSchema(tm.GetPrimaryKey())
	if err != nil {
		return nil, err
	}
	m.PK = pk
	for _, d := range tm.GetDefinedColumn() {
		if !validName(d.GetName()) || slices.ContainsFunc(m.PK, func(p pkColumn) bool { return p.Name == d.GetName() }) {
			return nil, errParam("Invalid defined column name: '%s'.", d.GetName())
		}
		m.Defined = append(m.Defined, definedColumn{Name: d.GetName(), Type: int32(d.GetType())})
	}
	if err := m.setThroughput(req.GetReservedThroughput(), c.now.Unix()); err != nil {
		return nil, err
	}
	if err := m.setOptions(req.GetTableOptions()); err != nil {
		return nil, err
	}
	return m, nil
}

// validSchema checks 1-4 uniquely named columns of type INTEGER, STRING or
// BINARY, at most one of them auto-increment: an INTEGER that is not the
// partition key (https://www.alibabacloud.com/help/doc-detail/47745.htm).
func validSchema(cols []*otsprotocol.PrimaryKeySchema) ([]pkColumn, error) {
	if len(cols) < 1 || len(cols) > maxPKColumns {
		return nil, errParam("The number of primary key columns must be in range: [1, %d].", maxPKColumns)
	}
	var out []pkColumn
	autoInc := 0
	for i, c := range cols {
		p := pkColumn{Name: c.GetName(), Type: int32(c.GetType()), AutoInc: c.Option != nil}
		if !validName(p.Name) || slices.ContainsFunc(out, func(q pkColumn) bool { return q.Name == p.Name }) {
			return nil, errParam("Invalid or repeated primary key column name: '%s'.", p.Name)
		}
		if p.Type < 1 || p.Type > 3 {
			return nil, errParam("Invalid type of primary key column '%s'.", p.Name)
		}
		if p.AutoInc {
			if c.GetOption() != otsprotocol.PrimaryKeyOption_AUTO_INCREMENT || p.Type != 1 || i == 0 {
				return nil, errParam("The auto-increment column '%s' must be an INTEGER column other than the partition key.", p.Name)
			}
			autoInc++
		}
		out = append(out, p)
	}
	if autoInc > 1 {
		return nil, errParam("A table has at most one auto-increment primary key column.")
	}
	return out, nil
}

func (m *tableMeta) setThroughput(rt *otsprotocol.ReservedThroughput, now int64) error {
	if rt == nil {
		return nil
	}
	cu := rt.GetCapacityUnit()
	r, w := m.ReadCU, m.WriteCU
	if cu.Read != nil {
		r = cu.GetRead()
	}
	if cu.Write != nil {
		w = cu.GetWrite()
	}
	if r < 0 || r > maxReservedCU || w < 0 || w > maxReservedCU {
		return errParam("Reserved capacity units must be in range: [0, %d].", maxReservedCU)
	}
	if r > m.ReadCU || w > m.WriteCU {
		m.Increased = now
	}
	if r < m.ReadCU || w < m.WriteCU {
		m.Decreased = now
	}
	m.ReadCU, m.WriteCU = r, w
	return nil
}

// setOptions applies the options that are set: TTL -1 or ≥ 86400 s, max
// versions ≥ 1, deviation ≥ 1 s
// (https://alibabacloud.com/help/en/tablestore/developer-reference/tableoptions).
func (m *tableMeta) setOptions(o *otsprotocol.TableOptions) error {
	if o == nil {
		return nil
	}
	if o.TimeToLive != nil {
		if ttl := o.GetTimeToLive(); ttl != -1 && ttl < minTTL {
			return errParam("time_to_live must be -1 or at least %d seconds, got %d.", minTTL, ttl)
		}
		m.TTL = o.GetTimeToLive()
	}
	if o.MaxVersions != nil {
		if o.GetMaxVersions() < 1 {
			return errParam("max_versions must be at least 1, got %d.", o.GetMaxVersions())
		}
		m.MaxVersions = o.GetMaxVersions()
	}
	if o.DeviationCellVersionInSec != nil {
		if o.GetDeviationCellVersionInSec() < 1 {
			return errParam("deviation_cell_version_in_sec must be at least 1, got %d.", o.GetDeviationCellVersionInSec())
		}
		m.Deviation = o.GetDeviationCellVersionInSec()
	}
	if o.AllowUpdate != nil {
		m.AllowUpdate = o.GetAllowUpdate()
	}
	if o.GetUpdateFullRow() {
		return errParam("update_full_row is not supported by this simulator.")
	}
	return nil
}

func (s *Server) listTable(c *call) (protoadapt.MessageV1, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	resp := &otsprotocol.ListTableResponse{TableNames: []string{}}
	for _, m := range s.tables {
		if m.Instance == c.instance {
			resp.TableNames = append(resp.TableNames, m.Name)
		}
	}
	slices.Sort(resp.TableNames)
	return resp, nil
}

func (s *Server) describeTable(c *call) (protoadapt.MessageV1, error) {
	return withTable(s, c, func(_ *otsprotocol.DescribeTableRequest, m *tableMeta) (protoadapt.MessageV1, error) {
		return m.describe(), nil
	})
}

// describe is the table's DescribeTableResponse.
func (m *tableMeta) describe() *otsprotocol.DescribeTableResponse {
	resp := &otsprotocol.DescribeTableResponse{
		TableMeta:                 &otsprotocol.TableMeta{TableName: &m.Name},
		ReservedThroughputDetails: m.throughputDetails(),
		TableOptions:              m.options(),
		TableStatus:               otsprotocol.TableStatus_ACTIVE.Enum(),
		StreamDetails:             &otsprotocol.StreamDetails{EnableStream: new(false)},
	}
	for _, p := range m.PK {
		ps := &otsprotocol.PrimaryKeySchema{Name: new(p.Name), Type: otsprotocol.PrimaryKeyType(p.Type).Enum()}
		if p.AutoInc {
			ps.Option = otsprotocol.PrimaryKeyOption_AUTO_INCREMENT.Enum()
		}
		resp.TableMeta.PrimaryKey = append(resp.TableMeta.PrimaryKey, ps)
	}
	for _, d := range m.Defined {
		resp.TableMeta.DefinedColumn = append(resp.TableMeta.DefinedColumn,
			&otsprotocol.DefinedColumnSchema{Name: new(d.Name), Type: otsprotocol.DefinedColumnType(d.Type).Enum()})
	}
	return resp
}

func (m *tableMeta) throughputDetails() *otsprotocol.ReservedThroughputDetails {
	d := &otsprotocol.ReservedThroughputDetails{
		CapacityUnit:     &otsprotocol.CapacityUnit{Read: new(m.ReadCU), Write: new(m.WriteCU)},
		LastIncreaseTime: new(m.Increased),
	}
	if m.Decreased != 0 {
		d.LastDecreaseTime = new(m.Decreased)
	}
	return d
}

func (m *tableMeta) options() *otsprotocol.TableOptions {
	return &otsprotocol.TableOptions{TimeToLive: new(m.TTL), MaxVersions: new(m.MaxVersions),
		DeviationCellVersionInSec: new(m.Deviation), AllowUpdate: new(m.AllowUpdate)}
}

func (s *Server) updateTable(c *call) (protoadapt.MessageV1, error) {
	req := &otsprotocol.UpdateTableRequest{}
	if err := decode(c.body, req); err != nil {
		return nil, err
	}
	if req.GetStreamSpec().GetEnableStream() {
		return nil, errParam("Streams are not supported by this simulator.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := s.table(c.instance, req.GetTableName())
	if err != nil {
		return nil, err
	}
	m := *old
	if err := m.setThroughput(req.GetReservedThroughput(), c.now.Unix()); err != nil {
		return nil, err
	}
	if err := m.setOptions(req.GetTableOptions()); err != nil {
		return nil, err
	}
	if err := s.st.update(func(tx *bolt.Tx) error { return putTable(tx, &m) }); err != nil {
		return nil, err
	}
	s.tables[string(m.key())] = &m
	return &otsprotocol.UpdateTableResponse{
		ReservedThroughputDetails: m.throughputDetails(),
		TableOptions:              m.options(),
		StreamDetails:             &otsprotocol.StreamDetails{EnableStream: new(false)},
	}, nil
}

func (s *Server) deleteTable(c *call) (protoadapt.MessageV1, error) {
	req := &otsprotocol.DeleteTableRequest{}
	if err := decode(c.body, req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.table(c.instance, req.GetTableName())
	if err != nil {
		return nil, err
	}
	if err := s.st.update(func(tx *bolt.Tx) error { return deleteTable(tx, m) }); err != nil {
		return nil, err
	}
	delete(s.tables, string(m.key()))
	return nil, nil
}
