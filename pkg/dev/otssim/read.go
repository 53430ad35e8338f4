package otssim

// Reads: GetRow, BatchGetRow and GetRange
// (https://www.alibabacloud.com/help/en/tablestore/developer-reference/api-getrow,
// https://www.alibabacloud.com/help/doc-detail/27309.html).

import (
	"bytes"
	"errors"
	"slices"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/protoadapt"
)

// Documented read limits.
const (
	maxColumnsToGet = 128
	maxBatchGetRows = 100
	maxRangeRows    = 5000
	maxRangeBytes   = 4 << 20
)

// readSpec is what a read asks of each row.
type readSpec struct {
	columns     []string // sorted; nil: all
	pkNamed     bool     // columns names a primary key column
	maxVersions int32    // 0: not set
	timeRange   *otsprotocol.TimeRange
	filter      *filter
	startCol    string
	endCol      string
}

type readParams struct {
	columns     []string
	timeRange   *otsprotocol.TimeRange
	maxVersions *int32
	filter      []byte
	startCol    string
	endCol      string
}

func newReadSpec(m *tableMeta, p readParams) (*readSpec, error) {
	rs := &readSpec{timeRange: p.timeRange, startCol: p.startCol, endCol: p.endCol}
	if len(p.columns) > maxColumnsToGet {
		return nil, errParam("columns_to_get has %d columns, at most %d.", len(p.columns), maxColumnsToGet)
	}
	if len(p.columns) > 0 {
		rs.columns = slices.Compact(slices.Sorted(slices.Values(p.columns)))
		for _, c := range rs.columns {
			if !validName(c) {
				return nil, errParam("Invalid column name in columns_to_get: '%s'.", c)
			}
			rs.pkNamed = rs.pkNamed || slices.ContainsFunc(m.PK, func(k pkColumn) bool { return k.Name == c })
		}
	}
	switch {
	case p.maxVersions == nil && p.timeRange == nil:
		return nil, errParam("max_versions or time_range is required.")
	case p.maxVersions != nil && *p.maxVersions < 1:
		return nil, errParam("max_versions must be at least 1, got %d.", *p.maxVersions)
	case p.maxVersions != nil:
		rs.maxVersions = *p.maxVersions
	}
	if tr := p.timeRange; tr != nil {
		ranged := tr.StartTime != nil || tr.EndTime != nil
		if ranged == (tr.SpecificTime != nil) || (ranged && (tr.GetStartTime() < 0 || tr.GetStartTime() >= tr.GetEndTime())) {
			return nil, errParam("time_range needs either specific_time or 0 <= start_time < end_time.")
		}
	}
	if len(p.filter) > 0 {
		f, err := parseFilter(p.filter)
		if err != nil {
			return nil, err
		}
		rs.filter = f
	}
	return rs, nil
}

// inRange reports whether a version at ts is within the time range.
func (rs *readSpec) inRange(ts int64) bool {
	tr := rs.timeRange
	switch {
	case tr == nil:
		return true
	case tr.SpecificTime != nil:
		return ts == tr.GetSpecificTime()
	}
	return ts >= tr.GetStartTime() && ts < tr.GetEndTime()
}

// versions is the number of versions per column to return.
func (rs *readSpec) versions(m *tableMeta) int {
	if rs.maxVersions > 0 {
		return int(min(rs.maxVersions, m.MaxVersions))
	}
	return int(m.MaxVersions)
}

// project is the row to return for r, and its size; false when nothing of
// it is returned (missing, expired, filtered out, no requested column).
// The primary key is always returned.
func (rs *readSpec) project(m *tableMeta, r *storedRow, nowMs int64) (row, int, bool) {
	if !r.exists(m, nowMs) {
		return row{}, 0, false
	}
	view := columnView{}
	for _, c := range r.cols {
		if (rs.startCol != "" && c.name < rs.startCol) || (rs.endCol != "" && c.name >= rs.endCol) {
			continue
		}
		for _, v := range c.vers {
			if len(view[c.name]) < rs.versions(m) && m.visible(v.ts, nowMs) && rs.inRange(v.ts) {
				view[c.name] = append(view[c.name], v)
			}
		}
	}
	if rs.filter != nil && !rs.filter.match(view) {
		return row{}, 0, false
	}
	out := pkRow(m.PK, r.pk)
	var names []string
	for _, c := range r.cols {
		if len(view[c.name]) > 0 && (rs.columns == nil || slices.Contains(rs.columns, c.name)) {
			names = append(names, c.name)
		}
	}
	if pg := rs.filter; pg != nil && pg.pagination != nil {
		off := min(len(names), int(pg.pagination.GetOffset()))
		names = names[off:][:min(len(names)-off, int(pg.pagination.GetLimit()))]
	}
	for _, n := range names {
		for _, v := range view[n] {
			out.cells = append(out.cells, cell{name: n, val: v.v, hasVal: true, ts: v.ts, hasTS: true})
		}
	}
	if len(out.cells) == 0 && !rs.pkNamed && (rs.columns != nil || len(r.cols) > 0) {
		return row{}, 0, false
	}
	return out, rowBytes(r.pk, m.PK, out.cells), true
}

func (s *Server) getRow(c *call) (protoadapt.MessageV1, error) {
	return withTable(s, c, func(req *otsprotocol.GetRowRequest, m *tableMeta) (protoadapt.MessageV1, error) {
		rs, err := newReadSpec(m, readParams{req.GetColumnsToGet(), req.GetTimeRange(), req.MaxVersions, req.GetFilter(),
			req.GetStartColumn(), req.GetEndColumn()})
		if err != nil {
			return nil, err
		}
		pk, err := parsePrimaryKey(m, req.GetPrimaryKey(), pkExact)
		if err != nil {
			return nil, err
		}
		resp := &otsprotocol.GetRowResponse{Row: []byte{}}
		size := 0
		err = s.st.view(func(tx *bolt.Tx) error {
			b, err := rowsOf(tx, m)
			if err != nil {
				return err
			}
			r, err := getRow(b, rowKey(pk))
			if err != nil {
				return err
			}
			if out, n, ok := rs.project(m, r, c.nowMs); ok {
				resp.Row, size = encodeRows(out), n
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		cu := capacity{read: units(size)}
		s.stats.consume(cu, nil)
		resp.Consumed = cu.proto()
		return resp, nil
	})
}

// parsePrimaryKey reads a PlainBuffer row holding only a primary key.
func parsePrimaryKey(m *tableMeta, b []byte, mode pkMode) ([]value, error) {
	r, err := decodeRow(b)
	if err != nil {
		return nil, errParam("Invalid primary key: %v.", err)
	}
	if len(r.cells) > 0 {
		return nil, errParam("A primary key carries no attribute columns.")
	}
	return parsePK(m, r.pk, mode)
}

func (s *Server) batchGetRow(c *call) (protoadapt.MessageV1, error) {
	req := &otsprotocol.BatchGetRowRequest{}
	if err := decode(c.body, req); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	n, seen := 0, map[string]bool{}
	metas := make([]*tableMeta, len(req.GetTables()))
	specs := make([]*readSpec, len(req.GetTables()))
	for i, t := range req.GetTables() {
		n += len(t.GetPrimaryKey())
		if seen[t.GetTableName()] {
			return nil, errParam("The table '%s' appears twice in the request.", t.GetTableName())
		}
		seen[t.GetTableName()] = true
		m, err := s.table(c.instance, t.GetTableName())
		if err != nil {
			return nil, err
		}
		if specs[i], err = newReadSpec(m, readParams{t.GetColumnsToGet(), t.GetTimeRange(), t.MaxVersions, t.GetFilter(),
			t.GetStartColumn(), t.GetEndColumn()}); err != nil {
			return nil, err
		}
		metas[i] = m
	}
	if n == 0 || n > maxBatchGetRows {
		return nil, errParam("BatchGetRow reads 1 to %d rows, got %d.", maxBatchGetRows, n)
	}
	resp := &otsprotocol.BatchGetRowResponse{}
	var total capacity
	err := s.st.view(func(tx *bolt.Tx) error {
		resp.Tables = resp.Tables[:0]
		total = capacity{}
		for i, t := range req.GetTables() {
			out := &otsprotocol.TableInBatchGetRowResponse{TableName: new(t.GetTableName())}
			for _, pkb := range t.GetPrimaryKey() {
				res, err := readOne(tx, metas[i], specs[i], pkb, c.nowMs)
				if err != nil {
					return err
				}
				if res.Consumed != nil {
					total.read += res.Consumed.CapacityUnit.GetRead()
				}
				out.Rows = append(out.Rows, res)
			}
			resp.Tables = append(resp.Tables, out)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.stats.consume(total, nil)
	return resp, nil
}

// readOne is one BatchGetRow row: its data, or its own error for an
// invalid primary key.
func readOne(tx *bolt.Tx, m *tableMeta, rs *readSpec, pkb []byte, nowMs int64) (*otsprotocol.RowInBatchGetRowResponse, error) {
	pk, err := parsePrimaryKey(m, pkb, pkExact)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			return nil, err
		}
		// Both code and message: the Go SDK reads both.
		return &otsprotocol.RowInBatchGetRowResponse{IsOk: new(false), Error: &otsprotocol.Error{Code: new(ae.code), Message: new(ae.message)}}, nil
	}
	b, err := rowsOf(tx, m)
	if err != nil {
		return nil, err
	}
	r, err := getRow(b, rowKey(pk))
	if err != nil {
		return nil, err
	}
	res := &otsprotocol.RowInBatchGetRowResponse{IsOk: new(true), Row: []byte{}}
	size := 0
	if out, n, ok := rs.project(m, r, nowMs); ok {
		res.Row, size = encodeRows(out), n
	}
	res.Consumed = capacity{read: units(size)}.proto()
	return res, nil
}

func (s *Server) getRange(c *call) (protoadapt.MessageV1, error) {
	return withTable(s, c, func(req *otsprotocol.GetRangeRequest, m *tableMeta) (protoadapt.MessageV1, error) {
		sc, err := newScan(m, req)
		if err != nil {
			return nil, err
		}
		var resp *otsprotocol.GetRangeResponse
		err = s.st.view(func(tx *bolt.Tx) error {
			b, err := rowsOf(tx, m)
			if err != nil {
				return err
			}
			resp, err = sc.run(b, c.nowMs)
			return err
		})
		if err != nil {
			return nil, err
		}
		s.stats.consume(capacity{read: resp.Consumed.CapacityUnit.GetRead()}, nil)
		return resp, nil
	})
}

// scan is a parsed GetRange: the keys [lo, hi) (hi nil: no upper end) in
// one direction, at most limit rows.
type scan struct {
	m        *tableMeta
	spec     *readSpec
	backward bool
	lo, hi   []byte
	limit    int
}

func newScan(m *tableMeta, req *otsprotocol.GetRangeRequest) (*scan, error) {
	rs, err := newReadSpec(m, readParams{req.GetColumnsToGet(), req.GetTimeRange(), req.MaxVersions, req.GetFilter(),
		req.GetStartColumn(), req.GetEndColumn()})
	if err != nil {
		return nil, err
	}
	start, err := parsePrimaryKey(m, req.GetInclusiveStartPrimaryKey(), pkBound)
	if err != nil {
		return nil, err
	}
	end, err := parsePrimaryKey(m, req.GetExclusiveEndPrimaryKey(), pkBound)
	if err != nil {
		return nil, err
	}
	sc := &scan{m: m, spec: rs, limit: maxRangeRows}
	if req.Limit != nil {
		if req.GetLimit() <= 0 {
			return nil, errParam("limit must be greater than 0, got %d.", req.GetLimit())
		}
		sc.limit = min(int(req.GetLimit()), maxRangeRows)
	}
	switch req.GetDirection() {
	case otsprotocol.Direction_FORWARD:
		sc.lo, sc.hi = geKey(start), geKey(end)
		if sc.lo == nil || !keyBelow(sc.lo, sc.hi) {
			return nil, errParam("The start primary key must be less than the end primary key in a FORWARD range.")
		}
	case otsprotocol.Direction_BACKWARD:
		sc.backward = true
		sc.lo, sc.hi = gtKey(end), gtKey(start)
		if sc.lo == nil || !keyBelow(sc.lo, sc.hi) {
			return nil, errParam("The start primary key must be greater than the end primary key in a BACKWARD range.")
		}
	default:
		return nil, errParam("Unknown direction %d.", req.GetDirection())
	}
	return sc, nil
}

// run reads one page: up to limit rows or 4 MB, and the primary key to
// start the next page from when rows remain in the range.
func (sc *scan) run(b *bolt.Bucket, nowMs int64) (*otsprotocol.GetRangeResponse, error) {
	cur := b.Cursor()
	var k, v []byte
	if sc.backward {
		if sc.hi == nil {
			k, v = cur.Last()
		} else if k, v = cur.Seek(sc.hi); k == nil {
			k, v = cur.Last()
		} else {
			k, v = cur.Prev()
		}
	} else {
		k, v = cur.Seek(sc.lo)
	}
	inRange := func(k []byte) bool { return k != nil && bytes.Compare(k, sc.lo) >= 0 && keyBelow(k, sc.hi) }
	var rows []row
	size := 0
	resp := &otsprotocol.GetRangeResponse{}
	for ; inRange(k); k, v = sc.step(cur) {
		r, err := decodeStored(v)
		if err != nil {
			return nil, err
		}
		if len(rows) >= sc.limit || size >= maxRangeBytes {
			resp.NextStartPrimaryKey = encodeRows(pkRow(sc.m.PK, r.pk))
			break
		}
		if out, n, ok := sc.spec.project(sc.m, r, nowMs); ok {
			rows = append(rows, out)
			size += n
		}
	}
	resp.Rows = encodeRows(rows...)
	resp.Consumed = capacity{read: units(size)}.proto()
	return resp, nil
}

func (sc *scan) step(cur *bolt.Cursor) ([]byte, []byte) {
	if sc.backward {
		return cur.Prev()
	}
	return cur.Next()
}
