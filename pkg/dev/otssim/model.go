package otssim

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
)

// pkColumn is one primary key column of a table's schema.
type pkColumn struct {
	Name    string `json:"name"`
	Type    int32  `json:"type"` // otsprotocol.PrimaryKeyType: 1 INTEGER, 2 STRING, 3 BINARY
	AutoInc bool   `json:"autoInc,omitempty"`
}

// valueType is the PlainBuffer type of the column's values.
func (c pkColumn) valueType() valueType {
	switch c.Type {
	case 1:
		return vtInteger
	case 2:
		return vtString
	}
	return vtBlob
}

// definedColumn is a predefined attribute column (kept and described only).
type definedColumn struct {
	Name string `json:"name"`
	Type int32  `json:"type"`
}

// tableMeta is the persisted description of a table.
type tableMeta struct {
	Instance    string          `json:"instance"`
	Name        string          `json:"name"`
	PK          []pkColumn      `json:"pk"`
	Defined     []definedColumn `json:"defined,omitempty"`
	TTL         int32           `json:"ttl"` // seconds; -1 = never
	MaxVersions int32           `json:"maxVersions"`
	Deviation   int64           `json:"deviation"` // seconds a client timestamp may differ from now
	AllowUpdate bool            `json:"allowUpdate"`
	ReadCU      int32           `json:"readCU"`
	WriteCU     int32           `json:"writeCU"`
	Created     int64           `json:"created"` // Unix seconds
	Increased   int64           `json:"increased"`
	Decreased   int64           `json:"decreased,omitempty"`
}

// key is the table's key in the store: instance (lower case) and name.
func (m *tableMeta) key() []byte { return tableKey(m.Instance, m.Name) }

func tableKey(instance, name string) []byte { return []byte(instance + "/" + name) }

// visible reports whether a version written at ts (ms) is within the TTL.
func (m *tableMeta) visible(ts, nowMs int64) bool {
	return m.TTL < 0 || ts > nowMs-int64(m.TTL)*1000
}

// version is one version of an attribute column.
type version struct {
	ts int64
	v  value
}

// column is an attribute column with its versions, newest first.
type column struct {
	name string
	vers []version
}

// storedRow is a row as stored: its primary key, the time it was last
// written (which keeps a row without attribute columns alive for the TTL)
// and its attribute columns sorted by name.
type storedRow struct {
	pk     []value
	marker int64
	cols   []column
}

// find returns the index of the column named name, or -1.
func (r *storedRow) find(name string) int {
	i, ok := slices.BinarySearchFunc(r.cols, name, func(c column, n string) int { return strings.Compare(c.name, n) })
	if !ok {
		return -1
	}
	return i
}

// column returns the column named name, adding it (empty) if missing.
func (r *storedRow) column(name string) *column {
	i, ok := slices.BinarySearchFunc(r.cols, name, func(c column, n string) int { return strings.Compare(c.name, n) })
	if !ok {
		r.cols = slices.Insert(r.cols, i, column{name: name})
	}
	return &r.cols[i]
}

// put adds or replaces the version at v.ts, keeping versions newest first.
func (c *column) put(v version) {
	i, ok := slices.BinarySearchFunc(c.vers, v.ts, func(x version, ts int64) int { return cmp.Compare(ts, x.ts) })
	if ok {
		c.vers[i] = v
		return
	}
	c.vers = slices.Insert(c.vers, i, v)
}

// prune drops versions beyond the table's max versions and outside its
// TTL, and columns left without versions.
func (r *storedRow) prune(m *tableMeta, nowMs int64) {
	r.cols = slices.DeleteFunc(r.cols, func(c column) bool { return len(c.vers) == 0 })
	for i := range r.cols {
		c := &r.cols[i]
		if len(c.vers) > int(m.MaxVersions) {
			c.vers = c.vers[:m.MaxVersions]
		}
		c.vers = slices.DeleteFunc(c.vers, func(v version) bool { return !m.visible(v.ts, nowMs) })
	}
	r.cols = slices.DeleteFunc(r.cols, func(c column) bool { return len(c.vers) == 0 })
}

// exists reports whether the row has data within the TTL: an attribute
// version, or (for a row without attributes) its last write.
func (r *storedRow) exists(m *tableMeta, nowMs int64) bool {
	if r == nil {
		return false
	}
	for _, c := range r.cols {
		for _, v := range c.vers {
			if m.visible(v.ts, nowMs) {
				return true
			}
		}
	}
	return len(r.cols) == 0 && m.visible(r.marker, nowMs)
}

// pkRow is the row holding only the primary key.
func pkRow(schema []pkColumn, pk []value) row {
	out := row{pk: make([]cell, len(pk))}
	for i, v := range pk {
		out.pk[i] = cell{name: schema[i].Name, val: v, hasVal: true}
	}
	return out
}

// Stored rows are: a format byte (1), the marker (u64 ms), then the row as
// a PlainBuffer (primary key cells, then one cell per version, newest
// first, with its timestamp), which the codec also checks on read.
const rowFormat = 1

func encodeStored(schema []pkColumn, r *storedRow) []byte {
	pr := pkRow(schema, r.pk)
	for _, c := range r.cols {
		for _, v := range c.vers {
			pr.cells = append(pr.cells, cell{name: c.name, val: v.v, hasVal: true, ts: v.ts, hasTS: true})
		}
	}
	b := binary.LittleEndian.AppendUint64([]byte{rowFormat}, uint64(r.marker))
	return append(b, encodeRows(pr)...)
}

func decodeStored(b []byte) (*storedRow, error) {
	if len(b) < 9 || b[0] != rowFormat {
		return nil, fmt.Errorf("otssim: stored row: unknown format")
	}
	pr, err := decodeRow(b[9:])
	if err != nil {
		return nil, fmt.Errorf("otssim: stored row: %w", err)
	}
	r := &storedRow{marker: int64(binary.LittleEndian.Uint64(b[1:9]))}
	for _, c := range pr.pk {
		r.pk = append(r.pk, c.val.clone())
	}
	for _, c := range pr.cells {
		if n := len(r.cols); n > 0 && r.cols[n-1].name == c.name {
			r.cols[n-1].vers = append(r.cols[n-1].vers, version{c.ts, c.val.clone()})
			continue
		}
		r.cols = append(r.cols, column{name: c.name, vers: []version{{c.ts, c.val.clone()}}})
	}
	return r, nil
}
