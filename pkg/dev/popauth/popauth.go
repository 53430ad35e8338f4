// Package popauth verifies the signatures of Alibaba Cloud OpenAPI RPC
// requests the way the real gateway does, for the local simulators of RPC
// products (pkg/dev/enssim for ENS, pkg/dev/kmssim for KMS): the official
// SDKs sign, the simulator recomputes and compares.
package popauth

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
)

// Signature verification for the two schemes darabonba-openapi v2.1.14
// sends:
//   - V3 ACS3-HMAC-SHA256 (default), Authorization header:
//     https://www.alibabacloud.com/help/en/sdk/product-overview/v3-request-structure-and-signature
//   - V1 HMAC-SHA1 query signature (SDK SignatureAlgorithm "v2"):
//     https://www.alibabacloud.com/help/en/sdk/product-overview/rpc-mechanism
// Both are recomputed from the received request, as the real gateway does.

const v3Algorithm = "ACS3-HMAC-SHA256"

// Failure is a refused signature; Status, Code and Message follow the
// API's common errors.
type Failure struct {
	Status  int
	Code    string
	Message string
}

func (a *Failure) Error() string { return a.Code + ": " + a.Message }

// Incomplete is the failure for a request whose signature is missing or
// malformed.
func Incomplete(msg string) *Failure {
	return &Failure{http.StatusBadRequest, "IncompleteSignature", "The request signature does not conform to Aliyun standards. " + msg}
}

// Key is the AccessKey pair a simulator accepts.
type Key struct {
	AccessKeyID, AccessKeySecret string
}

// Verify checks the signature of r: an ACS3 Authorization header when
// there is one, else a V1 query signature over params (the merged query
// and form parameters). body is r's body, already read. It returns the
// AccessKey id, or a *Failure.
func Verify(r *http.Request, body []byte, params url.Values, k Key) (string, error) {
	switch authz := r.Header.Get("Authorization"); {
	case authz != "":
		return verifyV3(r, authz, body, k)
	case params.Has("Signature"):
		return verifyV1(r.Method, params, k)
	default:
		return "", Incomplete("The request is not signed.")
	}
}

// v3Auth is a parsed ACS3 Authorization header.
type v3Auth struct {
	accessKeyID   string
	signedHeaders []string
	signature     string
}

// ParseV3Authorization parses
// "ACS3-HMAC-SHA256 Credential=<AK>,SignedHeaders=a;b,Signature=<hex>".
func ParseV3Authorization(h string) (v3Auth, error) {
	var a v3Auth
	alg, rest, ok := strings.Cut(h, " ")
	if !ok || alg != v3Algorithm {
		return a, errors.New("unsupported signature algorithm")
	}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, errors.New("malformed Authorization header")
		}
		switch k {
		case "Credential":
			a.accessKeyID = v
		case "SignedHeaders":
			a.signedHeaders = strings.Split(v, ";")
		case "Signature":
			a.signature = v
		}
	}
	if a.accessKeyID == "" || len(a.signedHeaders) == 0 || a.signature == "" {
		return a, errors.New("Credential, SignedHeaders and Signature are required")
	}
	if !slices.IsSorted(a.signedHeaders) {
		return a, errors.New("SignedHeaders must be sorted")
	}
	return a, nil
}

// percentEncode is url.QueryEscape with the RFC 3986 fix-ups both schemes
// apply: "+" → "%20", "*" → "%2A", "%7E" → "~".
func percentEncode(s string) string {
	s = url.QueryEscape(s)
	s = strings.ReplaceAll(s, "+", "%20")
	s = strings.ReplaceAll(s, "*", "%2A")
	return strings.ReplaceAll(s, "%7E", "~")
}

// v3CanonicalQuery sorts the query by key and percent-encodes values (keys
// are used as sent, as the SDK does).
func v3CanonicalQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(percentEncode(k))
		b.WriteByte('=')
		if v := q.Get(k); v != "" {
			b.WriteString(percentEncode(v))
		}
	}
	return b.String()
}

// v3StringToSign builds the ACS3 string to sign of r with the given signed
// headers and body.
func v3StringToSign(r *http.Request, signed []string, body []byte) string {
	var hdrs strings.Builder
	for _, h := range signed {
		var v string
		if h == "host" {
			v = r.Host
		} else {
			vals := slices.Clone(r.Header.Values(h))
			for i := range vals {
				vals[i] = strings.TrimSpace(vals[i])
			}
			sort.Strings(vals)
			v = strings.Join(vals, ",")
		}
		hdrs.WriteString(h + ":" + v + "\n")
	}
	uri := r.URL.EscapedPath()
	if uri == "" {
		uri = "/"
	}
	sum := sha256.Sum256(body)
	canonical := r.Method + "\n" + uri + "\n" + v3CanonicalQuery(r.URL.Query()) + "\n" +
		hdrs.String() + "\n" + strings.Join(signed, ";") + "\n" + hex.EncodeToString(sum[:])
	ch := sha256.Sum256([]byte(canonical))
	return v3Algorithm + "\n" + hex.EncodeToString(ch[:])
}

// verifyV3 checks an ACS3-HMAC-SHA256 request; it returns the AccessKey id.
func verifyV3(r *http.Request, authz string, body []byte, k Key) (string, error) {
	a, err := ParseV3Authorization(authz)
	if err != nil {
		return "", Incomplete(err.Error())
	}
	// Every x-acs-* header and host must be signed.
	for name := range r.Header {
		l := strings.ToLower(name)
		if strings.HasPrefix(l, "x-acs-") && !slices.Contains(a.signedHeaders, l) {
			return "", Incomplete("Header " + l + " is not signed.")
		}
	}
	if !slices.Contains(a.signedHeaders, "host") {
		return "", Incomplete("Header host is not signed.")
	}
	if id := r.Header.Get("x-acs-accesskey-id"); id != "" && id != a.accessKeyID {
		return "", Incomplete("x-acs-accesskey-id does not match Credential.")
	}
	if a.accessKeyID != k.AccessKeyID {
		return "", errUnknownKey()
	}
	sts := v3StringToSign(r, a.signedHeaders, body)
	mac := hmac.New(sha256.New, []byte(k.AccessKeySecret))
	mac.Write([]byte(sts))
	want := hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(a.signature))) {
		return "", errSignature(sts)
	}
	return a.accessKeyID, nil
}

// v1StringToSign is "METHOD&%2F&" + percentEncode(canonicalized params).
func v1StringToSign(method string, params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(percentEncode(k) + "=" + percentEncode(params.Get(k)))
	}
	return method + "&%2F&" + percentEncode(b.String())
}

// verifyV1 checks a V1 HMAC-SHA1 request; params are the merged query and
// form parameters. It returns the AccessKey id.
func verifyV1(method string, params url.Values, k Key) (string, error) {
	if m := params.Get("SignatureMethod"); m != "HMAC-SHA1" {
		return "", Incomplete("SignatureMethod must be HMAC-SHA1.")
	}
	if v := params.Get("SignatureVersion"); v != "1.0" {
		return "", Incomplete("SignatureVersion must be 1.0.")
	}
	id := params.Get("AccessKeyId")
	if id == "" {
		return "", Incomplete("AccessKeyId is required.")
	}
	if id != k.AccessKeyID {
		return "", errUnknownKey()
	}
	sts := v1StringToSign(method, params)
	mac := hmac.New(sha1.New, []byte(k.AccessKeySecret+"&"))
	mac.Write([]byte(sts))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(params.Get("Signature"))) {
		return "", errSignature(sts)
	}
	return id, nil
}

func errUnknownKey() *Failure {
	// HTTP 400 as in Alibaba Cloud's common error table
	// (https://www.alibabacloud.com/help/en/auto-scaling/developer-reference/client-errors).
	return &Failure{http.StatusBadRequest, "InvalidAccessKeyId.NotFound", "Specified access key is not found."}
}

func errSignature(stringToSign string) *Failure {
	return &Failure{http.StatusForbidden, "SignatureDoesNotMatch",
		"Specified signature is not matched with our calculation. server string to sign is:" + stringToSign}
}
