package callback_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/ens"
)

// TestEventDataElements: what ENS reports about the pool (NodepoolId,
// EnsRegionId, every Status element) is in the body; an id or region ENS
// never gave is left out, not sent as "".
func TestEventDataElements(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 5, 4, 9, 58, 7, 0, time.UTC)
	full := callback.Event{Type: callback.TypeActive, Timestamp: at, Data: callback.EventData{
		RequestId: "req_1", ClusterId: "eck-demo0001", Name: "p1", NodepoolId: "np1", EnsRegionId: "cn-hangzhou-58",
		Status: &ens.NodePoolStatus{DesiredNodes: 3, InitialNodes: 1, RemovingNodes: 0, ServingNodes: 2, TotalNodes: 3, State: "initial"},
	}}
	body, err := full.Body()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"NodepoolId":"np1"`, `"EnsRegionId":"cn-hangzhou-58"`, `"DesiredNodes":3`, `"InitialNodes":1`,
		`"RemovingNodes":0`, `"ServingNodes":2`, `"TotalNodes":3`, `"State":"initial"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("body lacks %s: %s", want, body)
		}
	}
	failed := callback.Event{Type: callback.TypeFailed, Timestamp: at, Data: callback.EventData{
		RequestId: "req_1", ClusterId: "eck-demo0001", Name: "p1", Error: &callback.ErrorInfo{Code: callback.CodeConflict, Message: "x"},
	}}
	body, err = failed.Body()
	if err != nil {
		t.Fatal(err)
	}
	for _, absent := range []string{"NodepoolId", "EnsRegionId", "Status"} {
		if strings.Contains(string(body), absent) {
			t.Errorf("body has %s: %s", absent, body)
		}
	}
}
