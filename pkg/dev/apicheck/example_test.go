package apicheck_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/ensnodepool/webhook/api"
	"github.com/ensnodepool/webhook/pkg/dev/apicheck"
)

// A test's client checks every exchange with the server under test; in a
// test, apicheck.NewT(t, cfg) reports the failures when the test ends.
// Callback receivers are wrapped the same way with Receiver.
func ExampleChecker_Transport() {
	check, err := apicheck.New(apicheck.Config{})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+api.Path, api.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	client := &http.Client{Transport: check.Transport(nil)}
	resp, err := client.Get(srv.URL + api.Path)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, check.Checked(), len(check.Failures()))
	// Output: 200 1 0
}
