package adminguard

import (
	"net/http/httptest"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, tt := range []struct {
		method, host, ctype string
		want                int
	}{
		{"GET", "127.0.0.1:9200", "", 0},
		{"GET", "localhost", "", 0},
		{"GET", "LOCALHOST:1", "", 0},
		{"GET", "[::1]:9100", "", 0},
		{"GET", "127.8.9.10", "", 0},
		{"DELETE", "localhost:9100", "", 0},
		{"POST", "127.0.0.1:9200", "application/json", 0},
		{"POST", "127.0.0.1:9200", "application/json; charset=utf-8", 0},
		{"GET", "evil.example", "", 403},
		{"GET", "localhost.evil.example", "", 403},
		{"GET", "127.0.0.1.nip.io", "", 403},
		{"GET", "10.0.0.1:9200", "", 403},
		{"GET", "", "", 403},
		{"POST", "evil.example", "application/json", 403},
		{"POST", "127.0.0.1:9200", "text/plain", 415},
		{"POST", "127.0.0.1:9200", "application/x-www-form-urlencoded", 415},
		{"POST", "127.0.0.1:9200", "multipart/form-data; boundary=x", 415},
		{"POST", "127.0.0.1:9200", "", 415},
		{"PUT", "localhost", "text/plain", 415},
	} {
		r := httptest.NewRequest(tt.method, "http://x/_emulator/reset", nil)
		r.Host = tt.host
		if tt.ctype != "" {
			r.Header.Set("Content-Type", tt.ctype)
		}
		if got, reason := Check(r); got != tt.want || (got != 0) != (reason != "") {
			t.Errorf("%s Host %q %q: %d %q, want %d", tt.method, tt.host, tt.ctype, got, reason, tt.want)
		}
	}
}
