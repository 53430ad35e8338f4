package httpjson

import (
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

func TestWrite(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status int
		v      any
		code   int
		body   string
	}{
		{"object", http.StatusAccepted, map[string]string{"State": "accepted"}, http.StatusAccepted, `{"State":"accepted"}` + "\n"},
		{"HTML kept as sent", http.StatusOK, map[string]string{"text": "<a> & `b`"}, http.StatusOK, `{"text":"<a> & ` + "`b`" + `"}` + "\n"},
		{"empty object", http.StatusOK, struct{}{}, http.StatusOK, "{}\n"},
		{"not encodable", http.StatusOK, math.Inf(1), http.StatusInternalServerError, `{"error":"internal"}` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			Write(w, tc.status, tc.v)
			if w.Code != tc.code || w.Body.String() != tc.body {
				t.Fatalf("got %d %q, want %d %q", w.Code, w.Body, tc.code, tc.body)
			}
			if tc.code != http.StatusOK && tc.code != http.StatusAccepted {
				return
			}
			h := w.Header()
			if h.Get("Content-Type") != "application/json" || h.Get("Cache-Control") != "no-store" ||
				h.Get("Content-Length") != strconv.Itoa(len(tc.body)) {
				t.Errorf("headers %v", h)
			}
		})
	}
}
