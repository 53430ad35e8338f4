package otssim

// BatchWriteRow (https://help.aliyun.com/document_detail/27311.htm): up
// to 200 rows in one transaction of the store. The whole request fails on
// a missing or repeated table, a primary key that appears twice in one
// table, or too many rows; otherwise every row succeeds or fails on its
// own (is_ok, error).

import (
	"errors"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/protoadapt"
)

const maxBatchWriteRows = 200

// batchRow is one row of the request: parsed, or failed to parse.
type batchRow struct {
	w   *writeOp
	err *apiError
}

func (s *Server) batchWriteRow(c *call) (protoadapt.MessageV1, error) {
	req := &otsprotocol.BatchWriteRowRequest{}
	if err := decode(c.body, req); err != nil {
		return nil, err
	}
	if req.GetIsAtomic() || req.TransactionId != nil {
		return nil, errParam("Atomic batches and local transactions are not supported by this simulator.")
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	metas, rows, err := s.parseBatch(c, req)
	if err != nil {
		return nil, err
	}
	resp := &otsprotocol.BatchWriteRowResponse{}
	var total capacity
	err = s.st.update(func(tx *bolt.Tx) error {
		resp.Tables, total = resp.Tables[:0], capacity{}
		for i, t := range req.GetTables() {
			b, err := rowsOf(tx, metas[i])
			if err != nil {
				return err
			}
			out := &otsprotocol.TableInBatchWriteRowResponse{TableName: new(t.GetTableName())}
			for _, br := range rows[i] {
				res, err := s.applyBatchRow(tx, b, metas[i], br, c.nowMs)
				if err != nil {
					return err
				}
				if res.GetIsOk() {
					total.read += res.Consumed.CapacityUnit.GetRead()
					total.write += res.Consumed.CapacityUnit.GetWrite()
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

// parseBatch checks the request as a whole and parses each row.
func (s *Server) parseBatch(c *call, req *otsprotocol.BatchWriteRowRequest) ([]*tableMeta, [][]batchRow, error) {
	n, seen := 0, map[string]bool{}
	metas := make([]*tableMeta, len(req.GetTables()))
	rows := make([][]batchRow, len(req.GetTables()))
	for i, t := range req.GetTables() {
		n += len(t.GetRows())
		if seen[t.GetTableName()] {
			return nil, nil, errParam("The table '%s' appears twice in the request.", t.GetTableName())
		}
		seen[t.GetTableName()] = true
		m, err := s.table(c.instance, t.GetTableName())
		if err != nil {
			return nil, nil, err
		}
		metas[i] = m
		keys := map[string]bool{}
		for _, r := range t.GetRows() {
			w, err := parseWrite(m, r.GetType(), r.GetRowChange(), r.GetCondition(), r.GetReturnContent(), c.nowMs)
			if err == nil && !m.AllowUpdate && r.GetType() == otsprotocol.OperationType_UPDATE {
				err = errParam("The table does not allow UpdateRow (allow_update is false).")
			}
			if err != nil {
				var ae *apiError
				if !errors.As(err, &ae) || ae.code == CodeOutOfColumnCountLimit {
					return nil, nil, err
				}
				rows[i] = append(rows[i], batchRow{err: ae})
				continue
			}
			if w.autoInc < 0 {
				k := string(rowKey(w.pk))
				if keys[k] {
					return nil, nil, errParam("The same primary key appears twice in table '%s'.", t.GetTableName())
				}
				keys[k] = true
			}
			rows[i] = append(rows[i], batchRow{w: w})
		}
	}
	if n == 0 || n > maxBatchWriteRows {
		return nil, nil, errParam("BatchWriteRow writes 1 to %d rows, got %d.", maxBatchWriteRows, n)
	}
	return metas, rows, nil
}

// applyBatchRow applies one row; its condition failure or invalid change
// is its own answer, a store failure aborts the batch.
func (s *Server) applyBatchRow(tx *bolt.Tx, b *bolt.Bucket, m *tableMeta, br batchRow, nowMs int64) (*otsprotocol.RowInBatchWriteRowResponse, error) {
	e := br.err
	if br.w != nil {
		res, err := apply(tx, b, m, br.w, nowMs)
		if err == nil {
			return &otsprotocol.RowInBatchWriteRowResponse{IsOk: new(true), Consumed: res.cu.proto(), Row: res.row}, nil
		}
		if !errors.As(err, &e) {
			return nil, err
		}
	}
	return &otsprotocol.RowInBatchWriteRowResponse{IsOk: new(false), Error: &otsprotocol.Error{Code: new(e.code), Message: new(e.message)}}, nil
}
