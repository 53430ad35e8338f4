package otssim

// PlainBuffer, the row encoding inside Tablestore's protobuf messages
// (https://help.aliyun.com/document_detail/50600.html). The byte order and
// tag sequence follow what the official SDKs write and read, which differ
// from the document's grammar in one place (the value length comes before
// the value type): aliyun-tablestore-go-sdk tablestore/plain_buffer.go and
// tablestore/util.go, and the Node.js SDK's
// lib/protocol/plain_buffer_coded_stream.js
// (https://github.com/aliyun/aliyun-tablestore-go-sdk,
// https://github.com/aliyun/aliyun-tablestore-nodejs-sdk).
//
//	buffer = int32 0x75, row+
//	row    = TAG_ROW_PK cell*, [TAG_ROW_DATA cell*], [TAG_DELETE_ROW_MARKER], TAG_ROW_CHECKSUM crc
//	cell   = TAG_CELL, TAG_CELL_NAME u32 len name, [TAG_CELL_VALUE u32 L type payload],
//	         [TAG_CELL_TYPE op], [TAG_CELL_TIMESTAMP i64], TAG_CELL_CHECKSUM crc
//
// Integers are little-endian. Checksums are CRC-8 (polynomial 0x07, initial
// 0, not reflected): a cell's over its name, value type, value (with the
// u32 length of strings and blobs), timestamp and then operation; a row's
// over the checksums of its cells and one byte, 1 for a delete marker else 0.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

const (
	pbHeader = 0x75

	tagRowPK        = 0x01
	tagRowData      = 0x02
	tagCell         = 0x03
	tagCellName     = 0x04
	tagCellValue    = 0x05
	tagCellType     = 0x06
	tagCellTS       = 0x07
	tagDeleteMarker = 0x08
	tagRowChecksum  = 0x09
	tagCellChecksum = 0x0A
)

// valueType is a PlainBuffer value type byte.
type valueType byte

const (
	vtInteger valueType = 0x00
	vtDouble  valueType = 0x01
	vtBoolean valueType = 0x02
	vtString  valueType = 0x03
	vtBlob    valueType = 0x07
	vtInfMin  valueType = 0x09
	vtInfMax  valueType = 0x0A
	vtAutoInc valueType = 0x0B
)

func (t valueType) String() string {
	switch t {
	case vtInteger:
		return "INTEGER"
	case vtDouble:
		return "DOUBLE"
	case vtBoolean:
		return "BOOLEAN"
	case vtString:
		return "STRING"
	case vtBlob:
		return "BINARY"
	case vtInfMin:
		return "INF_MIN"
	case vtInfMax:
		return "INF_MAX"
	case vtAutoInc:
		return "AUTO_INCREMENT"
	}
	return fmt.Sprintf("type 0x%02x", byte(t))
}

// cellOp is the operation of an UpdateRow cell (TAG_CELL_TYPE); a plain put
// carries none.
type cellOp byte

const (
	opPut       cellOp = 0x00 // no TAG_CELL_TYPE on the wire
	opDeleteAll cellOp = 0x01
	opDeleteOne cellOp = 0x03
	opIncrement cellOp = 0x04
)

// value is one PlainBuffer value. num holds an INTEGER, the IEEE-754 bits
// of a DOUBLE or 0/1 for a BOOLEAN; str holds STRING and BINARY bytes.
type value struct {
	t   valueType
	num int64
	str []byte
}

func intValue(n int64) value     { return value{t: vtInteger, num: n} }
func stringValue(s string) value { return value{t: vtString, str: []byte(s)} }
func (v value) float() float64   { return math.Float64frombits(uint64(v.num)) }
func (v value) isInf() bool      { return v.t == vtInfMin || v.t == vtInfMax }
func (v value) payloadSize() int { return len(v.payload(nil)) }
func (v value) clone() value     { v.str = append([]byte(nil), v.str...); return v }

// payload appends the value's bytes after its type byte: i64, double bits,
// one byte 0/1, or u32 length and bytes; nothing for INF_MIN, INF_MAX and
// AUTO_INCREMENT.
func (v value) payload(b []byte) []byte {
	switch v.t {
	case vtInteger, vtDouble:
		return binary.LittleEndian.AppendUint64(b, uint64(v.num))
	case vtBoolean:
		return append(b, byte(v.num))
	case vtString, vtBlob:
		b = binary.LittleEndian.AppendUint32(b, uint32(len(v.str)))
		return append(b, v.str...)
	}
	return b
}

// cell is one PlainBuffer cell: a primary key column, an attribute version
// or an UpdateRow operation.
type cell struct {
	name   string
	val    value
	hasVal bool
	op     cellOp
	ts     int64
	hasTS  bool
}

// row is one PlainBuffer row.
type row struct {
	pk      []cell
	cells   []cell
	deleted bool // TAG_DELETE_ROW_MARKER
}

// ---- CRC-8 ----

var crcTable = func() (t [256]byte) {
	for i := range t {
		c := byte(i)
		for range 8 {
			if c&0x80 != 0 {
				c = c<<1 ^ 0x07
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

func crcBytes(crc byte, b []byte) byte {
	for _, x := range b {
		crc = crcTable[crc^x]
	}
	return crc
}

func crcUint64(crc byte, n uint64) byte {
	for range 8 {
		crc = crcTable[crc^byte(n)]
		n >>= 8
	}
	return crc
}

// checksum is the cell checksum: name, value type and payload, timestamp,
// then operation (the order of the SDKs' checksums, not of the wire).
func (c *cell) checksum() byte {
	crc := crcBytes(0, []byte(c.name))
	if c.hasVal {
		crc = crcTable[crc^byte(c.val.t)]
		crc = crcBytes(crc, c.val.payload(nil))
	}
	if c.hasTS {
		crc = crcUint64(crc, uint64(c.ts))
	}
	if c.op != opPut {
		crc = crcTable[crc^byte(c.op)]
	}
	return crc
}

func (r *row) checksum() byte {
	var crc byte
	for i := range r.pk {
		crc = crcTable[crc^r.pk[i].checksum()]
	}
	for i := range r.cells {
		crc = crcTable[crc^r.cells[i].checksum()]
	}
	if r.deleted {
		return crcTable[crc^1]
	}
	return crcTable[crc^0]
}

// ---- encoding ----

// encodeRows returns the buffer of rows (header and rows); no rows gives
// an empty slice, which the SDKs read as "no row".
func encodeRows(rows ...row) []byte {
	if len(rows) == 0 {
		return []byte{}
	}
	b := binary.LittleEndian.AppendUint32(nil, pbHeader)
	for i := range rows {
		b = appendRow(b, &rows[i])
	}
	return b
}

func appendRow(b []byte, r *row) []byte {
	b = append(b, tagRowPK)
	for i := range r.pk {
		b = appendCell(b, &r.pk[i])
	}
	if len(r.cells) > 0 {
		b = append(b, tagRowData)
		for i := range r.cells {
			b = appendCell(b, &r.cells[i])
		}
	}
	if r.deleted {
		b = append(b, tagDeleteMarker)
	}
	return append(b, tagRowChecksum, r.checksum())
}

func appendCell(b []byte, c *cell) []byte {
	b = append(b, tagCell, tagCellName)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(c.name)))
	b = append(b, c.name...)
	if c.hasVal {
		b = append(b, tagCellValue)
		b = binary.LittleEndian.AppendUint32(b, uint32(1+c.val.payloadSize()))
		b = append(b, byte(c.val.t))
		b = c.val.payload(b)
	}
	if c.op != opPut {
		b = append(b, tagCellType, byte(c.op))
	}
	if c.hasTS {
		b = append(b, tagCellTS)
		b = binary.LittleEndian.AppendUint64(b, uint64(c.ts))
	}
	return append(b, tagCellChecksum, c.checksum())
}

// encodeVariant is a filter's column value: type and payload without the
// u32 length ("SQLVariant", aliyun-tablestore-go-sdk tablestore/util.go
// WriteCellValueWithoutLengthPrefix).
func encodeVariant(v value) []byte { return v.payload([]byte{byte(v.t)}) }

// ---- decoding ----

// errPlainBuffer is the cause of every decoding failure.
var errPlainBuffer = errors.New("malformed PlainBuffer")

type pbReader struct {
	b   []byte
	off int
}

func (r *pbReader) fail(what string) error {
	return fmt.Errorf("%w: %s at byte %d", errPlainBuffer, what, r.off)
}

func (r *pbReader) byte1() (byte, error) {
	if r.off >= len(r.b) {
		return 0, r.fail("unexpected end")
	}
	r.off++
	return r.b[r.off-1], nil
}

func (r *pbReader) peek() (byte, bool) {
	if r.off >= len(r.b) {
		return 0, false
	}
	return r.b[r.off], true
}

func (r *pbReader) next(n int) ([]byte, error) {
	if n < 0 || n > len(r.b)-r.off {
		return nil, r.fail("unexpected end")
	}
	r.off += n
	return r.b[r.off-n : r.off], nil
}

func (r *pbReader) uint32() (uint32, error) {
	b, err := r.next(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (r *pbReader) uint64() (uint64, error) {
	b, err := r.next(8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

func (r *pbReader) expect(tag byte, what string) error {
	t, err := r.byte1()
	if err != nil {
		return err
	}
	if t != tag {
		return r.fail(fmt.Sprintf("want %s (tag 0x%02x), got tag 0x%02x", what, tag, t))
	}
	return nil
}

// restIsPadding reports whether only zero bytes remain. The Node.js SDK
// sizes its buffer in advance and leaves unused bytes zero
// (lib/protocol/plian_buffer_builder.js), so requests may end in zeros.
func (r *pbReader) restIsPadding() bool {
	for _, x := range r.b[r.off:] {
		if x != 0 {
			return false
		}
	}
	return true
}

// decodeRows reads a buffer of one or more rows.
func decodeRows(b []byte) ([]row, error) {
	r := &pbReader{b: b}
	h, err := r.uint32()
	if err != nil {
		return nil, err
	}
	if h != pbHeader {
		return nil, fmt.Errorf("%w: header 0x%x, want 0x75", errPlainBuffer, h)
	}
	var rows []row
	for len(rows) == 0 || !r.restIsPadding() {
		row, err := r.row()
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// decodeRow reads a buffer that must hold exactly one row.
func decodeRow(b []byte) (row, error) {
	rows, err := decodeRows(b)
	if err != nil {
		return row{}, err
	}
	if len(rows) != 1 {
		return row{}, fmt.Errorf("%w: %d rows, want 1", errPlainBuffer, len(rows))
	}
	return rows[0], nil
}

func (r *pbReader) row() (row, error) {
	var out row
	if err := r.expect(tagRowPK, "TAG_ROW_PK"); err != nil {
		return out, err
	}
	var err error
	if out.pk, err = r.cells(); err != nil {
		return out, err
	}
	if t, _ := r.peek(); t == tagRowData {
		r.off++
		if out.cells, err = r.cells(); err != nil {
			return out, err
		}
	}
	if t, _ := r.peek(); t == tagDeleteMarker {
		r.off++
		out.deleted = true
	}
	if err := r.expect(tagRowChecksum, "TAG_ROW_CHECKSUM"); err != nil {
		return out, err
	}
	sum, err := r.byte1()
	if err != nil {
		return out, err
	}
	if want := out.checksum(); sum != want {
		return out, r.fail(fmt.Sprintf("row checksum 0x%02x, want 0x%02x", sum, want))
	}
	return out, nil
}

func (r *pbReader) cells() ([]cell, error) {
	var cs []cell
	for {
		if t, _ := r.peek(); t != tagCell {
			return cs, nil
		}
		r.off++
		c, err := r.cell()
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
}

func (r *pbReader) cell() (cell, error) {
	var c cell
	if err := r.expect(tagCellName, "TAG_CELL_NAME"); err != nil {
		return c, err
	}
	n, err := r.uint32()
	if err != nil {
		return c, err
	}
	name, err := r.next(int(min(n, math.MaxInt32)))
	if err != nil {
		return c, err
	}
	c.name = string(name)
	if t, _ := r.peek(); t == tagCellValue {
		r.off++
		if c.val, err = r.cellValue(); err != nil {
			return c, err
		}
		c.hasVal = true
	}
	if t, _ := r.peek(); t == tagCellType {
		r.off++
		op, err := r.byte1()
		if err != nil {
			return c, err
		}
		switch cellOp(op) {
		case opDeleteAll, opDeleteOne, opIncrement:
			c.op = cellOp(op)
		default:
			return c, r.fail(fmt.Sprintf("unknown cell operation 0x%02x", op))
		}
	}
	if t, _ := r.peek(); t == tagCellTS {
		r.off++
		ts, err := r.uint64()
		if err != nil {
			return c, err
		}
		c.ts, c.hasTS = int64(ts), true
	}
	if err := r.expect(tagCellChecksum, "TAG_CELL_CHECKSUM"); err != nil {
		return c, err
	}
	sum, err := r.byte1()
	if err != nil {
		return c, err
	}
	if want := c.checksum(); sum != want {
		return c, r.fail(fmt.Sprintf("cell %q checksum 0x%02x, want 0x%02x", c.name, sum, want))
	}
	return c, nil
}

// cellValue reads u32 L, type and payload, and checks that L covers
// exactly the type byte and the payload.
func (r *pbReader) cellValue() (value, error) {
	l, err := r.uint32()
	if err != nil {
		return value{}, err
	}
	start := r.off
	v, err := r.variant()
	if err != nil {
		return v, err
	}
	if uint32(r.off-start) != l {
		return v, r.fail(fmt.Sprintf("value length %d, but the %s value takes %d bytes", l, v.t, r.off-start))
	}
	return v, nil
}

// variant reads a type byte and its payload.
func (r *pbReader) variant() (value, error) {
	t, err := r.byte1()
	if err != nil {
		return value{}, err
	}
	v := value{t: valueType(t)}
	switch v.t {
	case vtInteger, vtDouble:
		n, err := r.uint64()
		v.num = int64(n)
		return v, err
	case vtBoolean:
		b, err := r.byte1()
		if err == nil && b > 1 {
			return v, r.fail(fmt.Sprintf("boolean byte %d", b))
		}
		v.num = int64(b)
		return v, err
	case vtString, vtBlob:
		n, err := r.uint32()
		if err != nil {
			return v, err
		}
		s, err := r.next(int(min(n, math.MaxInt32)))
		v.str = s
		return v, err
	case vtInfMin, vtInfMax, vtAutoInc:
		return v, nil
	}
	return v, r.fail(fmt.Sprintf("unknown value type 0x%02x", t))
}

// decodeVariant reads a filter's column value (type and payload, no
// length), allowing trailing zero padding.
func decodeVariant(b []byte) (value, error) {
	r := &pbReader{b: b}
	v, err := r.variant()
	if err != nil {
		return v, err
	}
	if v.t == vtInfMin || v.t == vtInfMax || v.t == vtAutoInc {
		return v, fmt.Errorf("%w: a column value cannot be %s", errPlainBuffer, v.t)
	}
	if !r.restIsPadding() {
		return v, r.fail("trailing bytes after the value")
	}
	return v, nil
}
