package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestChatOpsRoutesOffWithoutSecrets: with no chat secrets set, every
// /v1/chatops/* route answers 404 and the JSON API keeps serving.
func TestChatOpsRoutesOffWithoutSecrets(t *testing.T) {
	st := newStack(t)
	for _, p := range []string{"/v1/chatops/slack", "/v1/chatops/dingtalk", "/v1/chatops/feishu"} {
		w := httptest.NewRecorder()
		st.app.handler.ServeHTTP(w, httptest.NewRequest(http.MethodPost, p, strings.NewReader("{}")))
		if w.Code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, w.Code)
		}
	}
	w := httptest.NewRecorder()
	st.app.handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("/healthz: %d", w.Code)
	}
}
