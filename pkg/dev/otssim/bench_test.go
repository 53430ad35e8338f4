package otssim_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
)

// BenchmarkPutRow measures conditional puts (EXPECT_NOT_EXIST, a ledger
// entry's write) through the official Go SDK over loopback HTTP, from
// parallel clients; each put is one committed store transaction.
func BenchmarkPutRow(b *testing.B) {
	bd := setup(b, b.TempDir())
	createTable(b, bd.client, "ledger", -1, 1, pkSchema{"id", tablestore.PrimaryKeyType_STRING, false})
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("req-%012d", n.Add(1))
			if err := put(bd.client, "ledger", key("id", id), tablestore.RowExistenceExpectation_EXPECT_NOT_EXIST,
				"state", "accepted", "body", id); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
