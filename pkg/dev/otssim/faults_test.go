package otssim_test

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/ensnodepool/webhook/pkg/dev/otssim"
)

// TestFaultErrors: injected errors reach the SDK with their code and
// status; the Go SDK retries OTSServerBusy (and succeeds once the fault's
// count is used up) but not other codes.
func TestFaultErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	createTable(t, b.client, "t", -1, 1, pkSchema{"id", tablestore.PrimaryKeyType_STRING, false})
	noRetry := newClient(t, b.http.URL, testInstance, testAK, testSK, "", 0)

	if err := b.srv.InjectFault(otssim.Fault{Mode: otssim.FaultError, Ops: []string{"PutRow"}, Count: 2}); err != nil {
		t.Fatal(err)
	}
	if err := put(b.client, "t", key("id", "a"), tablestore.RowExistenceExpectation_IGNORE, "v", int64(1)); err != nil {
		t.Fatalf("the SDK should retry OTSServerBusy past a 2-request fault: %v", err)
	}
	st, _ := b.srv.Stats()
	if st.FaultsApplied != 2 || st.Errors["OTSServerBusy"] != 2 || st.Calls["PutRow"] != 3 {
		t.Fatalf("stats after the retried put: %+v", st)
	}

	if err := b.srv.InjectFault(otssim.Fault{Mode: otssim.FaultError, Code: "OTSPartitionUnavailable", For: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, put(noRetry, "t", key("id", "b"), tablestore.RowExistenceExpectation_IGNORE, "v", int64(1)), "OTSPartitionUnavailable", 503)
	_, err := noRetry.ListTable()
	wantErr(t, err, "OTSPartitionUnavailable", 503)
	waitFor(t, "the 300 ms fault to end", func() bool { _, err := noRetry.ListTable(); return err == nil })

	if err := b.srv.InjectFault(otssim.Fault{Mode: otssim.FaultError, Code: "OTSQuotaExhausted", Count: 1}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, put(b.client, "t", key("id", "c"), tablestore.RowExistenceExpectation_IGNORE, "v", int64(1)), "OTSQuotaExhausted", 403)

	if err := b.srv.InjectFault(otssim.Fault{Mode: otssim.FaultThrottle, Rate: 2, For: time.Minute}); err != nil {
		t.Fatal(err)
	}
	ok, throttled := 0, 0
	for range 10 {
		switch _, err := noRetry.ListTable(); {
		case err == nil:
			ok++
		default:
			wantErr(t, err, "OTSNotEnoughCapacityUnit", 403)
			throttled++
		}
	}
	if ok == 0 || throttled == 0 {
		t.Fatalf("throttle at 2/s: %d passed, %d throttled of 10 quick calls", ok, throttled)
	}
	if got := b.srv.Faults(); len(got) != 1 || got[0].Mode != otssim.FaultThrottle {
		t.Fatalf("active faults = %+v", got)
	}
	b.srv.ClearFaults()
	if _, err := noRetry.ListTable(); err != nil {
		t.Fatalf("after ClearFaults: %v", err)
	}

	for _, bad := range []otssim.Fault{
		{Mode: "explode", Count: 1},
		{Mode: otssim.FaultError},
		{Mode: otssim.FaultThrottle, Count: 1},
		{Mode: otssim.FaultError, Count: 1, Ops: []string{"Nope"}},
		{Mode: otssim.FaultError, Count: 1, Status: 200},
		{Mode: otssim.FaultRefuse, For: time.Second}, // not served through Listen
	} {
		if err := b.srv.InjectFault(bad); err == nil {
			t.Errorf("InjectFault(%+v) accepted", bad)
		}
	}
}

// waitFor polls cond until it holds, failing after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestFaultDrop: a connection dropped before the request is served is
// retried by the Go SDK and the increment applies once; dropped after it
// was applied, the SDK's retry applies it a second time (why a ledger
// must not rely on blind increments).
func TestFaultDrop(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	createTable(t, b.client, "t", -1, 1, pkSchema{"id", tablestore.PrimaryKeyType_STRING, false})
	incr := func() error {
		ch := &tablestore.UpdateRowChange{TableName: "t", PrimaryKey: key("id", "n")}
		ch.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
		ch.IncrementColumn("n", 1)
		_, err := b.client.UpdateRow(&tablestore.UpdateRowRequest{UpdateRowChange: ch})
		return err
	}
	for _, tc := range []struct {
		after bool
		want  int64
	}{{false, 1}, {true, 3}} {
		if err := b.srv.InjectFault(otssim.Fault{Mode: otssim.FaultDrop, Ops: []string{"UpdateRow"}, Count: 1, After: tc.after}); err != nil {
			t.Fatal(err)
		}
		if err := incr(); err != nil {
			t.Fatalf("increment with a dropped connection (after %v): %v", tc.after, err)
		}
		if got := get(t, b.client, "t", key("id", "n")); got["n"] != tc.want {
			t.Fatalf("after a drop (after %v) the counter is %v, want %d", tc.after, got["n"], tc.want)
		}
	}
}

// TestFaultDelay holds a request for the injected delay.
func TestFaultDelay(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	if err := b.srv.InjectFault(otssim.Fault{Mode: otssim.FaultDelay, Delay: 300 * time.Millisecond, Count: 1}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := b.client.ListTable(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("delayed call answered after %v", d)
	}
}

// TestFaultRefuse: on the server's own listener a refuse fault, posted to
// the admin API, answers the admin request, then refuses connections and
// closes open ones; the Go SDK retries "connection refused" until the
// listener is back.
func TestFaultRefuse(t *testing.T) {
	t.Parallel()
	srv, err := otssim.New(otssim.Config{AccessKeyID: testAK, AccessKeySecret: testSK})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close(); _ = srv.Close() })
	base := "http://" + ln.Addr().String()
	c := newClient(t, base, testInstance, testAK, testSK, "", 10)
	createTable(t, c, "t", -1, 1, pkSchema{"id", tablestore.PrimaryKeyType_STRING, false})

	admin := &http.Client{Transport: &http.Transport{}}
	resp, err := admin.Post(base+otssim.AdminPrefix+"faults", "application/json", strings.NewReader(`{"mode":"refuse","for":"1500ms"}`))
	if err != nil {
		t.Fatalf("the admin answer should arrive before the listener goes down: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("inject refuse: %s", resp.Status)
	}
	_, err = net.DialTimeout("tcp", ln.Addr().String(), time.Second)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial during the refuse fault: %v, want connection refused", err)
	}
	// The SDK's connection from before the fault is closed; the put
	// retries until the listener is back.
	if err := put(c, "t", key("id", "a"), tablestore.RowExistenceExpectation_IGNORE, "v", int64(1)); err != nil {
		t.Fatalf("put across a 1.5 s refusal: %v", err)
	}

	if err := srv.InjectFault(otssim.Fault{Mode: otssim.FaultRefuse, For: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial during the second refuse fault: %v", err)
	}
	srv.ClearFaults()
	if got := get(t, c, "t", key("id", "a")); got["v"] != int64(1) {
		t.Fatalf("after ClearFaults: %v", got)
	}
}

// TestAdminAPI: loopback hosts only, JSON bodies only, and the fault and
// stats endpoints.
func TestAdminAPI(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	createTable(t, b.client, "t", -1, 1, pkSchema{"id", tablestore.PrimaryKeyType_STRING, false})
	call := func(method, host, ctype, body string) (int, map[string]any) {
		t.Helper()
		req := httptest.NewRequest(method, "http://"+host+"/_emulator/faults", strings.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		rec := httptest.NewRecorder()
		b.srv.ServeHTTP(rec, req)
		var out map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &out)
		return rec.Code, out
	}
	for _, tc := range []struct {
		method, host, ctype, body string
		status                    int
	}{
		{"GET", "evil.example", "", "", 403},
		{"POST", "127.0.0.1:9", "text/plain", `{"mode":"error","count":1}`, 415},
		{"POST", "localhost", "application/x-www-form-urlencoded", "mode=error", 415},
		{"POST", "[::1]:80", "application/json", `{"mode":"error","count":1,"bogus":1}`, 400},
		{"POST", "localhost", "application/json", `{"mode":"error","for":"soon"}`, 400},
		{"POST", "localhost", "application/json", `{"mode":"error","code":"OTSTimeout","count":1,"ops":["GetRow"]}`, 200},
		{"GET", "localhost:1", "", "", 200},
	} {
		if got, out := call(tc.method, tc.host, tc.ctype, tc.body); got != tc.status {
			t.Errorf("%s %s %s: %d %v, want %d", tc.method, tc.host, tc.body, got, out, tc.status)
		}
	}
	if _, out := call("GET", "localhost", "", ""); len(out["faults"].([]any)) != 1 {
		t.Fatalf("GET faults = %v", out)
	}
	_, err := b.client.GetRow(&tablestore.GetRowRequest{SingleRowQueryCriteria: &tablestore.SingleRowQueryCriteria{
		TableName: "t", PrimaryKey: key("id", "x"), MaxVersion: 1}})
	if err != nil {
		t.Fatalf("GetRow should be retried past a one-request OTSTimeout: %v", err)
	}
	if got, out := call("DELETE", "localhost", "", ""); got != 200 || len(out["faults"].([]any)) != 0 {
		t.Fatalf("DELETE faults = %d %v", got, out)
	}

	req := httptest.NewRequest("GET", "http://127.0.0.1/_emulator/stats", nil)
	rec := httptest.NewRecorder()
	b.srv.ServeHTTP(rec, req)
	var st otssim.Stats
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || st.Calls["GetRow"] != 2 || st.Errors["OTSTimeout"] != 1 ||
		len(st.Tables) != 1 || st.Tables[0].Name != "t" || st.Tables[0].Instance != testInstance {
		t.Fatalf("stats = %s (%v)", rec.Body.Bytes(), err)
	}
}
