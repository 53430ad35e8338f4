package otssim

// Writes: PutRow, UpdateRow, DeleteRow and the rows of BatchWriteRow
// (https://www.alibabacloud.com/help/en/tablestore/developer-reference/api-putrow
// and its sibling pages; atomic counters:
// https://alibabacloud.com/help/en/tablestore/developer-reference/configure-atomic-counter-by-using-go-sdk;
// versions and TTL: https://alibabacloud.com/help/en/tablestore/data-versions-and-ttl).

import (
	"slices"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/protoadapt"
)

// Documented write limits.
const (
	maxWriteColumns = 1024
	maxAttrSize     = 2 << 20
	maxRowSize      = 4 << 20
)

// pkMode says which placeholders a primary key may hold.
type pkMode int

const (
	pkExact pkMode = iota // concrete values only
	pkPut                 // AUTO_INCREMENT in the auto-increment column
	pkBound               // INF_MIN / INF_MAX anywhere
)

// parsePK checks cells against the table's schema (names, order, types)
// and returns the values. The messages follow the service's.
func parsePK(m *tableMeta, cells []cell, mode pkMode) ([]value, error) {
	if len(cells) != len(m.PK) {
		return nil, errParam("Validate PK size fail. Input: %d, Meta: %d.", len(cells), len(m.PK))
	}
	pk := make([]value, len(cells))
	for i, c := range cells {
		col := m.PK[i]
		if c.name != col.Name {
			return nil, errParam("Validate PK name fail. Input: %s, Meta: %s.", c.name, col.Name)
		}
		if !c.hasVal || c.hasTS || c.op != opPut {
			return nil, errParam("The primary key column '%s' must have a value and nothing else.", c.name)
		}
		v := c.val
		switch {
		case v.t == col.valueType():
			if len(v.str) > maxPKValueSize {
				return nil, errParam("The value of primary key column '%s' is longer than %d bytes.", c.name, maxPKValueSize)
			}
		case v.isInf() && mode == pkBound:
		case v.t == vtAutoInc && mode == pkPut && col.AutoInc:
		default:
			return nil, errParam("Validate PK type fail. Input: %s, Meta: %s.", v.t, col.valueType())
		}
		pk[i] = v.clone()
	}
	return pk, nil
}

// returnSpec is a write's ReturnContent.
type returnSpec struct {
	typ     otsprotocol.ReturnType
	columns []string
}

// writeOp is one parsed row write.
type writeOp struct {
	kind    otsprotocol.OperationType
	pk      []value
	autoInc int // index of an AUTO_INCREMENT placeholder in pk, or -1
	cells   []cell
	cond    condition
	ret     returnSpec
}

// parseWrite checks one row change of kind PUT, UPDATE or DELETE.
func parseWrite(m *tableMeta, kind otsprotocol.OperationType, rowChange []byte, pc *otsprotocol.Condition,
	rc *otsprotocol.ReturnContent, nowMs int64) (*writeOp, error) {
	r, err := decodeRow(rowChange)
	if err != nil {
		return nil, errParam("Invalid row: %v.", err)
	}
	w := &writeOp{kind: kind, autoInc: -1, cells: r.cells}
	mode := pkExact
	if kind == otsprotocol.OperationType_PUT {
		mode = pkPut
	}
	if w.pk, err = parsePK(m, r.pk, mode); err != nil {
		return nil, err
	}
	w.autoInc = slices.IndexFunc(w.pk, func(v value) bool { return v.t == vtAutoInc })
	if r.deleted && kind != otsprotocol.OperationType_DELETE {
		return nil, errParam("Only a delete may carry the delete row marker.")
	}
	if kind == otsprotocol.OperationType_DELETE && len(r.cells) > 0 {
		return nil, errParam("A delete carries only the primary key.")
	}
	if err := checkCells(m, kind, w.cells, nowMs); err != nil {
		return nil, err
	}
	if w.cond, err = parseCondition(pc); err != nil {
		return nil, err
	}
	if w.autoInc >= 0 && w.cond.existence == otsprotocol.RowExistenceExpectation_EXPECT_EXIST {
		return nil, errParam("A row with an auto-increment primary key cannot expect to exist.")
	}
	w.ret = returnSpec{typ: rc.GetReturnType(), columns: rc.GetReturnColumnNames()}
	if w.ret.typ == otsprotocol.ReturnType_RT_AFTER_MODIFY && kind != otsprotocol.OperationType_UPDATE {
		return nil, errParam("RT_AFTER_MODIFY applies to UpdateRow only.")
	}
	return w, nil
}

// checkCells validates the attribute cells of a put (values with optional
// timestamps) or an update (puts, deletes and increments).
func checkCells(m *tableMeta, kind otsprotocol.OperationType, cells []cell, nowMs int64) error {
	if len(cells) > maxWriteColumns {
		return newErr(CodeOutOfColumnCountLimit, "The number of columns in a row change is %d, at most %d.", len(cells), maxWriteColumns)
	}
	size := 0
	incremented, changed := map[string]bool{}, map[string]bool{}
	for _, c := range cells {
		if !validName(c.name) || slices.ContainsFunc(m.PK, func(p pkColumn) bool { return p.Name == c.name }) {
			return errParam("Invalid attribute column name: '%s'.", c.name)
		}
		if err := checkCell(m, kind, c, nowMs); err != nil {
			return err
		}
		if c.op == opIncrement {
			if incremented[c.name] || changed[c.name] {
				return errParam("The column '%s' is incremented and also changed otherwise in one row change.", c.name)
			}
			incremented[c.name] = true
		} else {
			if incremented[c.name] {
				return errParam("The column '%s' is incremented and also changed otherwise in one row change.", c.name)
			}
			changed[c.name] = true
		}
		size += len(c.name) + len(c.val.str) + 8
	}
	if size > maxRowSize {
		return errParam("The row change is larger than %d bytes.", maxRowSize)
	}
	return nil
}

func checkCell(m *tableMeta, kind otsprotocol.OperationType, c cell, nowMs int64) error {
	if kind == otsprotocol.OperationType_PUT && c.op != opPut {
		return errParam("A put cannot delete or increment columns (column '%s').", c.name)
	}
	switch c.op {
	case opPut:
		if !c.hasVal || c.val.t == vtInfMin || c.val.t == vtInfMax || c.val.t == vtAutoInc {
			return errParam("The column '%s' needs a STRING, INTEGER, BOOLEAN, DOUBLE or BINARY value.", c.name)
		}
		if len(c.val.str) > maxAttrSize {
			return errParam("The value of column '%s' is longer than %d bytes.", c.name, maxAttrSize)
		}
		if c.hasTS {
			if dev := m.Deviation * 1000; c.ts < 0 || c.ts < nowMs-dev || c.ts > nowMs+dev {
				return errParam("The timestamp %d of column '%s' is more than %d seconds from the server's time.", c.ts, c.name, m.Deviation)
			}
		}
	case opDeleteAll:
		if c.hasVal || c.hasTS {
			return errParam("Deleting all versions of '%s' takes no value and no timestamp.", c.name)
		}
	case opDeleteOne:
		if c.hasVal || !c.hasTS {
			return errParam("Deleting one version of '%s' takes a timestamp and no value.", c.name)
		}
	case opIncrement:
		if !c.hasVal || c.val.t != vtInteger || c.hasTS {
			return errParam("Incrementing '%s' takes an INTEGER value and no timestamp.", c.name)
		}
	}
	return nil
}

// capacity is the capacity units an operation consumed.
type capacity struct{ read, write int32 }

func (c capacity) proto() *otsprotocol.ConsumedCapacity {
	return &otsprotocol.ConsumedCapacity{CapacityUnit: &otsprotocol.CapacityUnit{Read: new(c.read), Write: new(c.write)}}
}

// units is the capacity units of n bytes: 4 KB each, rounded up, at least
// one (https://alibabacloud.com/help/en/tablestore/product-overview/read-and-write-throughput).
func units(n int) int32 { return int32(max(1, (n+4095)/4096)) }

// rowBytes is a row's size for capacity accounting: names and values.
func rowBytes(pk []value, schema []pkColumn, cells []cell) int {
	n := 0
	for i, v := range pk {
		n += len(schema[i].Name) + v.payloadSize()
	}
	for _, c := range cells {
		n += len(c.name) + c.val.payloadSize()
	}
	return n
}

// writeResult is the outcome of one applied write.
type writeResult struct {
	row []byte // the ReturnContent's row, or nil
	cu  capacity
}

// apply performs w on the table's rows in b: an *apiError (condition,
// increment) leaves the row unchanged.
func apply(tx *bolt.Tx, b *bolt.Bucket, m *tableMeta, w *writeOp, nowMs int64) (writeResult, error) {
	res := writeResult{cu: capacity{write: units(rowBytes(w.pk, m.PK, w.cells))}}
	if w.cond.reads() {
		res.cu.read = 1
	}
	pk := slices.Clone(w.pk)
	if w.autoInc >= 0 {
		n, err := nextAutoInc(tx, m, nowMs)
		if err != nil {
			return res, err
		}
		pk[w.autoInc] = intValue(n)
	}
	key := rowKey(pk)
	old, err := getRow(b, key)
	if err != nil {
		return res, err
	}
	if err := w.cond.check(m, old, nowMs); err != nil {
		return res, err
	}
	if !old.exists(m, nowMs) {
		old = nil
	}
	var r *storedRow
	switch w.kind {
	case otsprotocol.OperationType_DELETE:
		return res, b.Delete(key)
	case otsprotocol.OperationType_PUT:
		r = &storedRow{pk: pk, marker: nowMs}
		for _, c := range w.cells {
			r.column(c.name).put(version{ts: stamp(c, nowMs), v: c.val.clone()})
		}
	default:
		if old == nil && onlyDeletes(w.cells) {
			return res, b.Delete(key) // nothing to create; drop an expired leftover
		}
		r = old
		if r == nil {
			r = &storedRow{pk: pk}
		}
		r.marker = nowMs
		if err := update(r, w.cells, m, nowMs); err != nil {
			return res, err
		}
	}
	r.prune(m, nowMs)
	if w.ret.typ != otsprotocol.ReturnType_RT_NONE {
		res.row = encodeRows(returnRow(m, r, w.ret))
		if w.ret.typ == otsprotocol.ReturnType_RT_AFTER_MODIFY {
			res.cu.read = max(res.cu.read, 1)
		}
	}
	return res, b.Put(key, encodeStored(m.PK, r))
}

// stamp is a cell's version: its timestamp, else now.
func stamp(c cell, nowMs int64) int64 {
	if c.hasTS {
		return c.ts
	}
	return nowMs
}

func onlyDeletes(cells []cell) bool {
	for _, c := range cells {
		if c.op != opDeleteAll && c.op != opDeleteOne {
			return false
		}
	}
	return true
}

// update applies UpdateRow cells to r.
func update(r *storedRow, cells []cell, m *tableMeta, nowMs int64) error {
	for _, c := range cells {
		switch c.op {
		case opPut:
			r.column(c.name).put(version{ts: stamp(c, nowMs), v: c.val.clone()})
		case opDeleteAll:
			if i := r.find(c.name); i >= 0 {
				r.cols[i].vers = nil
			}
		case opDeleteOne:
			if i := r.find(c.name); i >= 0 {
				r.cols[i].vers = slices.DeleteFunc(r.cols[i].vers, func(v version) bool { return v.ts == c.ts })
			}
		case opIncrement:
			col := r.column(c.name)
			var cur int64
			if i := slices.IndexFunc(col.vers, func(v version) bool { return m.visible(v.ts, nowMs) }); i >= 0 {
				if col.vers[i].v.t != vtInteger {
					return errParam("The column '%s' to increment is %s, not INTEGER.", c.name, col.vers[i].v.t)
				}
				cur = col.vers[i].v.num
			}
			sum, ok := addInt64(cur, c.val.num)
			if !ok {
				return errParam("Incrementing '%s' by %d overflows INTEGER.", c.name, c.val.num)
			}
			col.put(version{ts: nowMs, v: intValue(sum)})
		}
	}
	return nil
}

func addInt64(a, b int64) (int64, bool) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, false
	}
	return s, true
}

// returnRow is the row a write's ReturnContent asks for: the primary key,
// with RT_AFTER_MODIFY also the newest version of each named column.
func returnRow(m *tableMeta, r *storedRow, spec returnSpec) row {
	out := pkRow(m.PK, r.pk)
	if spec.typ != otsprotocol.ReturnType_RT_AFTER_MODIFY {
		return out
	}
	names := slices.Clone(spec.columns)
	slices.Sort(names)
	for _, name := range slices.Compact(names) {
		if i := r.find(name); i >= 0 && len(r.cols[i].vers) > 0 {
			v := r.cols[i].vers[0]
			out.cells = append(out.cells, cell{name: name, val: v.v, hasVal: true, ts: v.ts, hasTS: true})
		}
	}
	return out
}

// write runs one single-row write operation on table m (the caller holds
// the shared lock).
func (s *Server) write(c *call, m *tableMeta, kind otsprotocol.OperationType, rowChange []byte,
	pc *otsprotocol.Condition, rc *otsprotocol.ReturnContent) (writeResult, error) {
	if !m.AllowUpdate && kind == otsprotocol.OperationType_UPDATE {
		return writeResult{}, errParam("The table does not allow UpdateRow (allow_update is false).")
	}
	w, err := parseWrite(m, kind, rowChange, pc, rc, c.nowMs)
	if err != nil {
		return writeResult{}, err
	}
	var res writeResult
	err = s.st.update(func(tx *bolt.Tx) error {
		b, err := rowsOf(tx, m)
		if err != nil {
			return err
		}
		res, err = apply(tx, b, m, w, c.nowMs)
		return err
	})
	s.stats.consume(res.cu, err)
	return res, err
}

func (s *Server) putRow(c *call) (protoadapt.MessageV1, error) {
	return withTable(s, c, func(req *otsprotocol.PutRowRequest, m *tableMeta) (protoadapt.MessageV1, error) {
		res, err := s.write(c, m, otsprotocol.OperationType_PUT, req.GetRow(), req.GetCondition(), req.GetReturnContent())
		if err != nil {
			return nil, err
		}
		return &otsprotocol.PutRowResponse{Consumed: res.cu.proto(), Row: res.row}, nil
	})
}

func (s *Server) updateRow(c *call) (protoadapt.MessageV1, error) {
	return withTable(s, c, func(req *otsprotocol.UpdateRowRequest, m *tableMeta) (protoadapt.MessageV1, error) {
		res, err := s.write(c, m, otsprotocol.OperationType_UPDATE, req.GetRowChange(), req.GetCondition(), req.GetReturnContent())
		if err != nil {
			return nil, err
		}
		return &otsprotocol.UpdateRowResponse{Consumed: res.cu.proto(), Row: res.row}, nil
	})
}

func (s *Server) deleteRow(c *call) (protoadapt.MessageV1, error) {
	return withTable(s, c, func(req *otsprotocol.DeleteRowRequest, m *tableMeta) (protoadapt.MessageV1, error) {
		res, err := s.write(c, m, otsprotocol.OperationType_DELETE, req.GetPrimaryKey(), req.GetCondition(), nil)
		if err != nil {
			return nil, err
		}
		return &otsprotocol.DeleteRowResponse{Consumed: res.cu.proto()}, nil
	})
}
