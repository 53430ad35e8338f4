// Package httpjson writes JSON answers: the one writer of both front doors
// (the JSON API in pkg/intake and the chat commands in pkg/chatops), so
// they answer with the same headers and encoding.
package httpjson

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
)

// Write writes v as a JSON answer with status: Content-Type
// application/json, not cached (Cache-Control: no-store), with its
// Content-Length, HTML characters unescaped (chat platforms show the text
// as sent). A value that cannot be encoded is answered 500 with a fixed
// body and nothing of v.
func Write(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, `{"error":"internal"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
