package otssim_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	"github.com/ensnodepool/webhook/pkg/dev/otssim"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
)

// rawRequest is a hand-built request, signed like the SDKs sign.
type rawRequest struct {
	op      string
	body    []byte
	date    string // default: the clock's time, SDK format
	md5     string // default: the body's
	secret  string // default: testSK
	headers map[string]string
	method  string
}

// send posts r to the bundle's server and returns the status, the decoded
// Error (code "" on success) and the response.
func (b *bundle) send(t *testing.T, r rawRequest) (int, *otsprotocol.Error, *http.Response, []byte) {
	t.Helper()
	if r.date == "" {
		r.date = b.clock.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	}
	if r.md5 == "" {
		sum := md5.Sum(r.body)
		r.md5 = base64.StdEncoding.EncodeToString(sum[:])
	}
	if r.secret == "" {
		r.secret = testSK
	}
	req, err := http.NewRequest(cmpOr(r.method, http.MethodPost), b.http.URL+"/"+r.op, bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]string{"x-ots-date": r.date, "x-ots-apiversion": otssim.APIVersion, "x-ots-accesskeyid": testAK,
		"x-ots-instancename": testInstance, "x-ots-contentmd5": r.md5}
	for k, v := range r.headers {
		h[k] = v
	}
	for k, v := range h {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	if _, ok := r.headers["x-ots-signature"]; !ok {
		req.Header.Set("x-ots-signature", otssim.Sign(r.secret, r.op, req.Header))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	e := &otsprotocol.Error{}
	if resp.StatusCode != http.StatusOK {
		if err := proto.Unmarshal(body, protoadapt.MessageV2Of(e)); err != nil {
			t.Fatalf("error body %q: %v", body, err)
		}
	}
	return resp.StatusCode, e, resp, body
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func marshal(t *testing.T, m protoadapt.MessageV1) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{AllowPartial: true}.Marshal(protoadapt.MessageV2Of(m)) // as Node.js may
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAuthentication: the signature, x-ots-date (lenient about the Go
// SDK's garbled fraction, strict about skew), x-ots-contentmd5, the API
// version, the STS token, and the answer's own headers.
func TestAuthentication(t *testing.T) {
	t.Parallel()
	b := setup(t, "", func(c *otssim.Config) { c.SecurityToken = "sts-token-1" })
	now := b.clock.Now().UTC()
	for _, tc := range []struct {
		name   string
		r      rawRequest
		status int
		code   string
	}{
		{"ok", rawRequest{op: "ListTable"}, 200, ""},
		{"go_sdk_date_bug", rawRequest{op: "ListTable", date: now.Format("2006-01-02T15:04:05.123Z")}, 200, ""},
		{"whole_seconds", rawRequest{op: "ListTable", date: now.Format("2006-01-02T15:04:05Z")}, 200, ""},
		{"skewed_date", rawRequest{op: "ListTable", date: now.Add(-16 * time.Minute).Format("2006-01-02T15:04:05.000Z")}, 403, "OTSAuthFailed"},
		{"garbage_date", rawRequest{op: "ListTable", date: "yesterday"}, 403, "OTSAuthFailed"},
		{"wrong_secret", rawRequest{op: "ListTable", secret: "nope"}, 403, "OTSAuthFailed"},
		{"wrong_md5", rawRequest{op: "ListTable", md5: "AAAAAAAAAAAAAAAAAAAAAA=="}, 403, "OTSAuthFailed"},
		{"missing_signature", rawRequest{op: "ListTable", headers: map[string]string{"x-ots-signature": ""}}, 403, "OTSAuthFailed"},
		{"other_access_key", rawRequest{op: "ListTable", headers: map[string]string{"x-ots-accesskeyid": "LTAIother"}}, 403, "OTSAuthFailed"},
		{"sts_token", rawRequest{op: "ListTable", headers: map[string]string{"x-ots-ststoken": "sts-token-1"}}, 200, ""},
		{"wrong_sts_token", rawRequest{op: "ListTable", headers: map[string]string{"x-ots-ststoken": "stale"}}, 403, "OTSAuthFailed"},
		{"api_version", rawRequest{op: "ListTable", headers: map[string]string{"x-ots-apiversion": "2014-08-08"}}, 400, "OTSParameterInvalid"},
		{"bad_instance", rawRequest{op: "ListTable", headers: map[string]string{"x-ots-instancename": "x"}}, 400, "OTSParameterInvalid"},
		{"get_method", rawRequest{op: "ListTable", method: http.MethodGet}, 405, "OTSMethodNotAllowed"},
		{"unknown_op", rawRequest{op: "CreateSearchIndex"}, 400, "OTSUnsupportOperation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, e, resp, body := b.send(t, tc.r)
			if status != tc.status || e.GetCode() != tc.code {
				t.Fatalf("got %d %s (%s), want %d %s", status, e.GetCode(), e.GetMessage(), tc.status, tc.code)
			}
			if e.GetCode() != "" && e.GetMessage() == "" {
				t.Error("an error without a message")
			}
			checkAnswerHeaders(t, resp, body, tc.r.op)
		})
	}

	// The official SDK with and without the STS token, and with the
	// endpoint path forms it may send (/prefix/Op and //Op).
	for _, ep := range []string{b.http.URL, b.http.URL + "/", b.http.URL + "/some/prefix"} {
		for _, tok := range []string{"", "sts-token-1"} {
			if _, err := newClient(t, ep, testInstance, testAK, testSK, tok, 0).ListTable(); err != nil {
				t.Errorf("ListTable via %s (token %q): %v", ep, tok, err)
			}
		}
	}
	_, err := newClient(t, b.http.URL, testInstance, testAK, "wrong", "", 0).ListTable()
	wantErr(t, err, "OTSAuthFailed", 403)
}

// checkAnswerHeaders verifies the headers every answer carries: the
// request id, the body's MD5 and the Authorization signature over the
// x-ots-* headers (the Python SDK's check).
func checkAnswerHeaders(t *testing.T, resp *http.Response, body []byte, op string) {
	t.Helper()
	if resp.Header.Get("x-ots-requestid") == "" {
		t.Error("no x-ots-requestid")
	}
	sum := md5.Sum(body)
	if got := resp.Header.Get("x-ots-contentmd5"); got != base64.StdEncoding.EncodeToString(sum[:]) {
		t.Errorf("x-ots-contentmd5 %q does not match the body", got)
	}
	var lines []string
	for k, v := range resp.Header {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-ots-") {
			lines = append(lines, lk+":"+v[0])
		}
	}
	sort.Strings(lines)
	mac := hmac.New(sha1.New, []byte(testSK))
	mac.Write([]byte(strings.Join(lines, "\n") + "\n/" + op))
	if want := "OTS " + testAK + ":" + base64.StdEncoding.EncodeToString(mac.Sum(nil)); resp.Header.Get("Authorization") != want {
		t.Errorf("Authorization %q, want %q", resp.Header.Get("Authorization"), want)
	}
}

// TestRequestDecoding: proto2 required fields, PlainBuffer checksums, the
// Node.js SDK's zero padding and the body size limit.
func TestRequestDecoding(t *testing.T) {
	t.Parallel()
	b := setup(t, "", func(c *otssim.Config) { c.MaxRequestBytes = 64 << 10 })
	createTable(t, b.client, "t", -1, 1, pkSchema{"id", tablestore.PrimaryKeyType_STRING, false})
	row := func(pad int) []byte {
		ch := &tablestore.PutRowChange{TableName: "t", PrimaryKey: key("id", "a")}
		ch.AddColumn("v", int64(1))
		return append(ch.Serialize(), make([]byte, pad)...)
	}
	ignore := &otsprotocol.Condition{RowExistence: otsprotocol.RowExistenceExpectation_IGNORE.Enum()}
	flipped := row(0)
	flipped[len(flipped)-3] ^= 1 // a cell checksum
	for _, tc := range []struct {
		name   string
		op     string
		msg    protoadapt.MessageV1
		raw    []byte
		status int
		code   string
	}{
		{"put", "PutRow", &otsprotocol.PutRowRequest{TableName: new("t"), Row: row(0), Condition: ignore}, nil, 200, ""},
		{"node_zero_padding", "PutRow", &otsprotocol.PutRowRequest{TableName: new("t"), Row: row(22), Condition: ignore}, nil, 200, ""},
		{"no_condition", "PutRow", &otsprotocol.PutRowRequest{TableName: new("t"), Row: row(0)}, nil, 400, "OTSParameterInvalid"},
		{"checksum", "PutRow", &otsprotocol.PutRowRequest{TableName: new("t"), Row: flipped, Condition: ignore}, nil, 400, "OTSParameterInvalid"},
		{"truncated", "PutRow", &otsprotocol.PutRowRequest{TableName: new("t"), Row: row(0)[:20], Condition: ignore}, nil, 400, "OTSParameterInvalid"},
		{"batch_row_without_condition", "BatchWriteRow", &otsprotocol.BatchWriteRowRequest{Tables: []*otsprotocol.TableInBatchWriteRowRequest{{
			TableName: new("t"), Rows: []*otsprotocol.RowInBatchWriteRowRequest{{Type: otsprotocol.OperationType_PUT.Enum(), RowChange: row(0)}}}}},
			nil, 400, "OTSParameterInvalid"},
		{"not_protobuf", "PutRow", nil, []byte("{\"json\": true}"), 400, "OTSParameterInvalid"},
		{"too_large", "PutRow", nil, make([]byte, 65<<10), 413, "OTSRequestBodyTooLarge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.raw
			if tc.msg != nil {
				body = marshal(t, tc.msg)
			}
			status, e, _, _ := b.send(t, rawRequest{op: tc.op, body: body})
			if status != tc.status || e.GetCode() != tc.code {
				t.Fatalf("got %d %s (%s), want %d %s", status, e.GetCode(), e.GetMessage(), tc.status, tc.code)
			}
		})
	}
}
