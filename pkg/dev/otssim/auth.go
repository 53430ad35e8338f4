package otssim

// Authentication of Tablestore requests. There is no published server
// specification; this is the algorithm both official SDKs sign with
// (aliyun-tablestore-go-sdk tablestore/ots_header.go, the Node.js SDK's
// lib/signer.js):
//
//	StringToSign = "/" + Operation + "\n" + "POST" + "\n" + "" + "\n"
//	             + for every x-ots-* header but x-ots-signature, sorted by name:
//	               lower(name) + ":" + trim(value) + "\n"
//	x-ots-signature = base64(HMAC-SHA1(AccessKeySecret, StringToSign))

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Request headers.
const (
	hdrDate       = "x-ots-date"
	hdrAPIVersion = "x-ots-apiversion"
	hdrAccessKey  = "x-ots-accesskeyid"
	hdrInstance   = "x-ots-instancename"
	hdrContentMD5 = "x-ots-contentmd5"
	hdrSignature  = "x-ots-signature"
	hdrSTSToken   = "x-ots-ststoken"
)

// authenticate checks the request's headers and signature and returns the
// instance it names (lower case).
func (s *Server) authenticate(r *http.Request, op string, body []byte, now time.Time) (string, *apiError) {
	h := r.Header
	for _, name := range []string{hdrAccessKey, hdrSignature, hdrDate, hdrContentMD5} {
		if h.Get(name) == "" {
			return "", newErr(CodeAuthFailed, "Missing header: '%s'.", name)
		}
	}
	if v := h.Get(hdrAPIVersion); v != APIVersion {
		return "", errParam("Unsupported API version: '%s'; the service speaks %s.", v, APIVersion)
	}
	instance := h.Get(hdrInstance)
	if !validInstance(instance) {
		return "", errParam("Invalid instance name in header %s: it must be 3-16 letters, digits or hyphens, start with a letter and not end with a hyphen.", hdrInstance)
	}
	if h.Get(hdrAccessKey) != s.cfg.AccessKeyID {
		return "", newErr(CodeAuthFailed, "The AccessKeyID is disabled or does not exist.")
	}
	if tok := h.Get(hdrSTSToken); tok != "" && s.cfg.SecurityToken != "" && tok != s.cfg.SecurityToken {
		return "", newErr(CodeAuthFailed, "The security token is invalid or has expired.")
	}
	want := Sign(s.cfg.AccessKeySecret, op, h)
	if !hmac.Equal([]byte(h.Get(hdrSignature)), []byte(want)) {
		return "", newErr(CodeAuthFailed, "Signature mismatch.")
	}
	t, ok := parseOTSDate(h.Get(hdrDate))
	if !ok {
		return "", newErr(CodeAuthFailed, "Invalid date format: '%s'.", h.Get(hdrDate))
	}
	if skew := now.Sub(t); skew > s.cfg.MaxClockSkew || skew < -s.cfg.MaxClockSkew {
		return "", newErr(CodeAuthFailed, "Mismatch between system time and x-ots-date: %s.", h.Get(hdrDate))
	}
	sum := md5.Sum(body)
	if h.Get(hdrContentMD5) != base64.StdEncoding.EncodeToString(sum[:]) {
		return "", newErr(CodeAuthFailed, "Mismatch between the content MD5 and the body.")
	}
	return strings.ToLower(instance), nil
}

// Sign is the x-ots-signature of a request for operation op with headers
// h: base64 HMAC-SHA1 of "/op\nPOST\n\n" and the sorted x-ots-* headers
// (x-ots-signature excluded), each "name:value\n" with the value trimmed.
func Sign(secret, op string, h http.Header) string {
	var lines []string
	for k, v := range h {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-ots-") && lk != hdrSignature && len(v) > 0 {
			lines = append(lines, lk+":"+strings.TrimSpace(v[0])+"\n")
		}
	}
	sort.Strings(lines)
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte("/" + op + "\nPOST\n\n" + strings.Join(lines, "")))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// parseOTSDate reads x-ots-date, "2006-01-02T15:04:05[.fraction]Z" in UTC.
// The fraction (1 to 9 digits) is ignored: the Go SDK formats it with the
// layout ".123", which Go renders as month, day and hour
// (aliyun-tablestore-go-sdk tablestore/util.go xOtsDateFormat), so it is
// not a fraction of a second.
func parseOTSDate(v string) (time.Time, bool) {
	const layout = "2006-01-02T15:04:05"
	if len(v) < len(layout)+1 || v[len(v)-1] != 'Z' {
		return time.Time{}, false
	}
	t, err := time.Parse(layout, v[:len(layout)])
	if err != nil {
		return time.Time{}, false
	}
	frac := v[len(layout) : len(v)-1]
	if frac == "" {
		return t, true
	}
	if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
		return time.Time{}, false
	}
	for _, c := range frac[1:] {
		if c < '0' || c > '9' {
			return time.Time{}, false
		}
	}
	return t, true
}

// validInstance checks an instance name: 3-16 letters, digits and hyphens,
// starting with a letter and not ending with a hyphen
// (https://www.alibabacloud.com/help/en/tablestore/limits-on-widecolumn-model).
func validInstance(s string) bool {
	if len(s) < 3 || len(s) > 16 || !isLetter(s[0]) || s[len(s)-1] == '-' {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !isLetter(c) && !isDigit(c) && c != '-' {
			return false
		}
	}
	return true
}

// validName checks a table or column name: 1-255 letters, digits and
// underscores, not starting with a digit (same limits page).
func validName(s string) bool {
	if len(s) == 0 || len(s) > 255 || isDigit(s[0]) {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !isLetter(c) && !isDigit(c) && c != '_' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
