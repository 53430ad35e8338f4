package deadletter_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/deadletter"
	"github.com/ensnodepool/webhook/pkg/mns"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// TestRecordsRoundTrip: each record the functions write is read back by
// Parse as its kind, with the request it names, and survives JSON.
func TestRecordsRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 5, 4, 3, 2, 1, 0, time.UTC)
	d := callbackDelivery("req_cb", "eck-demo0001", "p", "https://hooks.example.com/cb", callback.StateExhausted, at)
	cb := deadletter.NewCallbackRecord(&d, at)
	d.Attempts[0].Status = 599 // the record holds a copy
	if cb.Version != deadletter.Version || cb.Kind != deadletter.KindCallback || cb.Reason != callback.StateExhausted ||
		cb.Delivery.Attempts[0].Status != 410 {
		t.Errorf("callback record = %+v", cb)
	}
	b, _ := json.Marshal(cb)
	var back deadletter.CallbackRecord
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, cb) {
		t.Errorf("callback record JSON round trip: %v\n%s", err, b)
	}

	req := deadletter.NewRequestRecord(deadletter.RequestRecord{Code: "Conflict", Reason: "differs", RequestId: "req_r",
		ClusterId: "eck-demo0001", Name: "p", At: at.In(time.FixedZone("x", 3600))},
		`{"RequestId":"req_r","Request":{"ScalingGroup":{"Password":"Secret-123"}}}`, nil)
	trk := deadletter.NewTrackingRecord("M9", errors.New("tracking: invalid message: version 7"), `{"Version":7,"RequestId":"req_t"}`, at)
	for _, tc := range []struct {
		rec           any
		kind, request string
	}{{cb, deadletter.KindCallback, "req_cb"}, {req, deadletter.KindRequest, "req_r"}, {trk, deadletter.KindTracking, "req_t"}} {
		body, _ := json.Marshal(tc.rec)
		if strings.Contains(string(body), "Secret-123") {
			t.Errorf("%s record keeps the password: %s", tc.kind, body)
		}
		r := deadletter.Parse(mns.Message{ID: "DL1", Body: string(body)})
		if r.Kind != tc.kind || r.RequestId != tc.request || !r.At.Equal(at) {
			t.Errorf("Parse(%s) = %+v", body, r)
		}
	}
	if req.At.Location() != time.UTC {
		t.Errorf("request record At %v not in UTC", req.At)
	}
}

// TestRequestRecordBodies: a JSON body is masked and cut to MaxBody on a
// character boundary; a body that is not JSON is withheld, and sealed only
// when there is a sealer.
func TestRequestRecordBodies(t *testing.T) {
	t.Parallel()
	keys, err := nodepool.ParseKeys("k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=")
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := nodepool.NewSealer(keys)
	if err != nil {
		t.Fatal(err)
	}
	long := `{"X":"` + strings.Repeat("é", deadletter.MaxBody) + `"}`
	r := deadletter.NewRequestRecord(deadletter.RequestRecord{}, long, nil)
	if !r.Truncated || len(r.Body) > deadletter.MaxBody || !strings.HasPrefix(long, r.Body) || r.BodySize != len(long) {
		t.Errorf("long body: truncated %v, %d bytes kept", r.Truncated, len(r.Body))
	}
	plain := "Password=Secret-123"
	if r := deadletter.NewRequestRecord(deadletter.RequestRecord{}, plain, nil); !r.BodyWithheld || r.Body != "" || r.BodySealed != "" {
		t.Errorf("not JSON, no sealer: %+v", r)
	}
	r = deadletter.NewRequestRecord(deadletter.RequestRecord{}, plain, sealer)
	if got, err := sealer.Open(r.BodySealed); !r.BodyWithheld || r.Body != "" || err != nil || got != plain {
		t.Errorf("not JSON, sealed: %+v (opens to %q, %v)", r, got, err)
	}
}
