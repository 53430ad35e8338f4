package otssim

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"math"
)

// Primary keys are stored under an order-preserving byte encoding, so the
// store's key order is Tablestore's row order: INTEGER columns as signed
// numbers, STRING and BINARY columns bytewise, column by column
// (https://www.alibabacloud.com/help/doc-detail/27309.html).
//
//	INTEGER         8 bytes big-endian with the sign bit flipped
//	STRING, BINARY  the bytes with 0x00 escaped as 0x00 0xFF, then 0x00 0x01
//
// A range bound may hold INF_MIN or INF_MAX in a column; the columns after
// it do not matter. geKey maps a bound b to the smallest stored key k with
// row(k) ≥ b, so row ≥ b ⇔ k ≥ geKey(b) and row > b ⇔ k ≥ gtKey(b).

// appendKeyColumn appends one primary key value's order-preserving bytes.
func appendKeyColumn(b []byte, v value) []byte {
	if v.t == vtInteger {
		return binary.BigEndian.AppendUint64(b, uint64(v.num)^(1<<63))
	}
	for _, c := range v.str {
		b = append(b, c)
		if c == 0 {
			b = append(b, 0xFF)
		}
	}
	return append(b, 0x00, 0x01)
}

// rowKey is the store key of a complete primary key.
func rowKey(pk []value) []byte {
	var b []byte
	for _, v := range pk {
		b = appendKeyColumn(b, v)
	}
	return b
}

// geKey is the smallest key whose row is ≥ the bound: the prefix before an
// INF_MIN column, or the first key after every key with the prefix before
// an INF_MAX column (nil: no key is that large).
func geKey(bound []value) []byte {
	var b []byte
	for _, v := range bound {
		switch v.t {
		case vtInfMin:
			return nonNil(b)
		case vtInfMax:
			return prefixEnd(b)
		}
		b = appendKeyColumn(b, v)
	}
	return nonNil(b)
}

// gtKey is the smallest key whose row is > the bound.
func gtKey(bound []value) []byte {
	for _, v := range bound {
		if v.isInf() {
			return geKey(bound) // no row equals a bound with an infinite column
		}
	}
	return append(geKey(bound), 0x00) // the key's immediate successor
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// prefixEnd is the first byte string after every string starting with p;
// nil when there is none (p empty or all 0xFF).
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xFF {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// keyBelow reports whether k < limit, where a nil limit is +∞.
func keyBelow(k, limit []byte) bool { return limit == nil || bytes.Compare(k, limit) < 0 }

// compareValues orders two values of one type (integers and doubles as
// numbers, booleans false < true, strings and blobs bytewise); ok is false
// for values of different types or a NaN, which no ordering comparison
// satisfies.
func compareValues(a, b value) (c int, ok bool) {
	if a.t != b.t {
		return 0, false
	}
	switch a.t {
	case vtInteger, vtBoolean:
		return cmp.Compare(a.num, b.num), true
	case vtDouble:
		x, y := a.float(), b.float()
		if math.IsNaN(x) || math.IsNaN(y) {
			return 0, false
		}
		return cmp.Compare(x, y), true
	case vtString, vtBlob:
		return bytes.Compare(a.str, b.str), true
	}
	return 0, false
}
