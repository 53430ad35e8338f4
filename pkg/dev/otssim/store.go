package otssim

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// The store is one bbolt database (Dir/ots.db):
//
//	tables   instance/name → tableMeta (JSON)
//	rows     instance/name → bucket: rowKey(pk) → encodeStored(row)
//	autoinc  instance/name → u64, the last auto-increment value handed out
//
// Each API call is one bbolt transaction, committed before the answer is
// written.
var (
	bucketTables  = []byte("tables")
	bucketRows    = []byte("rows")
	bucketAutoInc = []byte("autoinc")
)

type store struct {
	db   *bolt.DB
	temp string // directory to remove on close (in-memory mode)
}

// openStore opens dir/ots.db, or a database in a new temporary directory
// (removed by close) when dir is empty, and returns the tables in it.
func openStore(dir string, fsync bool) (*store, []*tableMeta, error) {
	st := &store{}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "otssim-")
		if err != nil {
			return nil, nil, fmt.Errorf("otssim: temporary store: %w", err)
		}
		dir, st.temp = tmp, tmp
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("otssim: data directory: %w", err)
	}
	db, err := bolt.Open(filepath.Join(dir, "ots.db"), 0o600, &bolt.Options{
		Timeout: 2e9, NoSync: !fsync, NoFreelistSync: true, FreelistType: bolt.FreelistMapType,
	})
	if err != nil {
		st.removeTemp()
		return nil, nil, fmt.Errorf("otssim: open store: %w", err)
	}
	st.db = db
	var tables []*tableMeta
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketTables, bucketRows, bucketAutoInc} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketTables).ForEach(func(k, v []byte) error {
			m := &tableMeta{}
			if err := json.Unmarshal(v, m); err != nil {
				return fmt.Errorf("table %q: %w", k, err)
			}
			tables = append(tables, m)
			return nil
		})
	})
	if err != nil {
		_ = st.close()
		return nil, nil, fmt.Errorf("otssim: load store: %w", err)
	}
	return st, tables, nil
}

func (st *store) removeTemp() {
	if st.temp != "" {
		_ = os.RemoveAll(st.temp)
	}
}

func (st *store) close() error {
	err := st.db.Close()
	st.removeTemp()
	return err
}

// errStore marks a failure of the database itself (answered as 500).
var errStore = errors.New("otssim: store")

func storeErr(err error) error {
	if err == nil || errors.Is(err, errStore) {
		return err
	}
	var ae *apiError
	if errors.As(err, &ae) {
		return err
	}
	return fmt.Errorf("%w: %w", errStore, err)
}

// view and update run fn in a read or read-write transaction.
func (st *store) view(fn func(tx *bolt.Tx) error) error   { return storeErr(st.db.View(fn)) }
func (st *store) update(fn func(tx *bolt.Tx) error) error { return storeErr(st.db.Update(fn)) }

// putTable writes the table's description and creates its row bucket.
func putTable(tx *bolt.Tx, m *tableMeta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := tx.Bucket(bucketTables).Put(m.key(), b); err != nil {
		return err
	}
	_, err = tx.Bucket(bucketRows).CreateBucketIfNotExists(m.key())
	return err
}

// deleteTable removes the table, its rows and its auto-increment counter.
func deleteTable(tx *bolt.Tx, m *tableMeta) error {
	if err := tx.Bucket(bucketTables).Delete(m.key()); err != nil {
		return err
	}
	if err := tx.Bucket(bucketAutoInc).Delete(m.key()); err != nil {
		return err
	}
	if err := tx.Bucket(bucketRows).DeleteBucket(m.key()); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
		return err
	}
	return nil
}

// rowsOf is the table's row bucket.
func rowsOf(tx *bolt.Tx, m *tableMeta) (*bolt.Bucket, error) {
	b := tx.Bucket(bucketRows).Bucket(m.key())
	if b == nil {
		return nil, errNoTable()
	}
	return b, nil
}

// getRow reads the row under key, or nil.
func getRow(b *bolt.Bucket, key []byte) (*storedRow, error) {
	v := b.Get(key)
	if v == nil {
		return nil, nil
	}
	return decodeStored(v)
}

// nextAutoInc hands out the table's next auto-increment value: larger than
// every earlier one and than now in microseconds, so values increase
// strictly but not consecutively, as documented
// (https://www.alibabacloud.com/help/doc-detail/47745.htm).
func nextAutoInc(tx *bolt.Tx, m *tableMeta, nowMs int64) (int64, error) {
	b := tx.Bucket(bucketAutoInc)
	var last int64
	if v := b.Get(m.key()); len(v) == 8 {
		last = int64(binary.BigEndian.Uint64(v))
	}
	next := max(last+1, nowMs*1000)
	return next, b.Put(m.key(), binary.BigEndian.AppendUint64(nil, uint64(next)))
}
