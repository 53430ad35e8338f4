package mnssim

// Authentication: the MNS request signature
// (https://www.alibabacloud.com/help/en/mns/developer-reference/request-signatures):
// Authorization "MNS <AccessKeyId>:<base64 HMAC-SHA1>" over the method, Content-MD5,
// Content-Type, Date, the x-mns-* headers and the resource.

import (
	"cmp"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"sort"
	"strings"
)

// authenticate checks the request signature, the Date skew and the body digest.
func (s *Server) authenticate(r *http.Request, resource string, body []byte) *apiError {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return errMissingAuth
	}
	cred, ok := strings.CutPrefix(auth, "MNS ")
	if !ok {
		return errInvalidAuth
	}
	ak, sig, ok := strings.Cut(strings.TrimSpace(cred), ":")
	if !ok || ak == "" || sig == "" {
		return errInvalidAuth
	}
	if r.Header.Get("x-mns-version") == "" {
		return errMissingVersion
	}
	date := r.Header.Get("Date")
	when := cmp.Or(r.Header.Get("x-mns-date"), date)
	if when == "" {
		return errMissingDate
	}
	t, err := http.ParseTime(when)
	if err != nil {
		return errInvalidDate
	}
	if skew := s.cfg.Now().Sub(t); skew > s.cfg.MaxClockSkew || skew < -s.cfg.MaxClockSkew {
		return errTimeExpired
	}
	if ak != s.cfg.AccessKeyID {
		return errInvalidAccessKey
	}
	want := Sign(s.cfg.AccessKeySecret, r.Method, r.Header, resource)
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return errSignature
	}
	if md := r.Header.Get("Content-MD5"); md != "" && !digestMatches(md, body) {
		return errInvalidDigest
	}
	return nil
}

// Sign computes the MNS request signature (base64 HMAC-SHA1) over the string to sign built from
// method, the Content-MD5, Content-Type and Date headers, the x-mns-* headers and resource — the
// request URI after the endpoint, with its query exactly as sent. See
// https://www.alibabacloud.com/help/doc-detail/27487.htm.
func Sign(secret, method string, h http.Header, resource string) string {
	var mns []string
	for k, v := range h {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-mns-") && len(v) > 0 {
			mns = append(mns, lk+":"+strings.TrimSpace(strings.Join(v, ",")))
		}
	}
	sort.Strings(mns)
	var b strings.Builder
	b.WriteString(method)
	b.WriteByte('\n')
	b.WriteString(h.Get("Content-MD5"))
	b.WriteByte('\n')
	b.WriteString(h.Get("Content-Type"))
	b.WriteByte('\n')
	b.WriteString(h.Get("Date"))
	b.WriteByte('\n')
	for _, l := range mns {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	b.WriteString(resource)
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// digestMatches accepts both Content-MD5 forms seen in MNS SDKs: base64 of the lower-case hex
// digest (Go, Python) and RFC 1864 base64 of the raw digest.
func digestMatches(header string, body []byte) bool {
	sum := md5.Sum(body)
	hexSum := hex.EncodeToString(sum[:])
	return header == base64.StdEncoding.EncodeToString([]byte(hexSum)) ||
		header == base64.StdEncoding.EncodeToString(sum[:]) ||
		strings.EqualFold(header, hexSum)
}
