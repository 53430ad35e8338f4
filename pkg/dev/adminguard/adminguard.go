// Package adminguard is the one rule the simulators' unsigned admin APIs
// (enssim, mnssim, kmssim, otssim under /_emulator/) apply before anything
// else, so a web page open in the developer's browser cannot drive them:
//
//   - the Host header must name a loopback address or localhost (403
//     otherwise), so a page that rebinds its own name to 127.0.0.1 is
//     refused;
//   - a POST, PUT or PATCH must carry Content-Type application/json (415
//     otherwise): a page may send a cross-origin POST of text/plain, a
//     form or nothing without asking, but application/json needs a CORS
//     preflight, which the simulators never answer.
//
// DELETE and the reads need no body rule: a browser sends a cross-origin
// DELETE only after a preflight, and cannot read a cross-origin answer.
package adminguard

import (
	"mime"
	"net"
	"net/http"
	"strings"
)

// LoopbackHost reports whether a Host header names this machine: a
// loopback address or localhost, with or without a port.
func LoopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Check returns the HTTP status and reason refusing r, or 0 and "" when
// an admin API may serve it.
func Check(r *http.Request) (status int, reason string) {
	if !LoopbackHost(r.Host) {
		return http.StatusForbidden, "the admin API answers only loopback hosts"
	}
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
			return http.StatusUnsupportedMediaType, "the admin API takes application/json bodies only"
		}
	}
	return 0, ""
}
