package enssim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzHandler feeds arbitrary queries, Authorization headers and form bodies
// to the API: it must never panic and must always answer JSON, with the
// error keys on every 4xx/5xx.
func FuzzHandler(f *testing.F) {
	f.Add("Action=DescribeClustersV1&Version=2017-11-10", "", "")
	f.Add("", "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host;x-acs-action,Signature=00", "")
	f.Add("Action=CreateClusterNodePool&Version=2017-11-10&AccessKeyId=AK&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&Signature=x",
		"", "ClusterId=eck-demo0001&ScalingGroup=%7B%22DesiredSize%22%3A1%7D")
	f.Add("a=%zz;b", "ACS3-HMAC-SHA256 ,,==", "%%%")
	s, err := New(Config{AccessKeyID: "AK", AccessKeySecret: "secret"})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	f.Fuzz(func(t *testing.T, query, authz, body string) {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.URL.RawQuery = query
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("x-acs-version", "2017-11-10")
		if authz != "" {
			r.Header.Set("Authorization", authz)
			r.Header.Set("x-acs-action", "DescribeClusterNodePools")
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		var out map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatalf("status %d: body is not JSON: %q", w.Code, w.Body.String())
		}
		if w.Code >= 400 {
			for _, k := range []string{"RequestId", "HostId", "Code", "Message", "Recommend"} {
				if _, ok := out[k]; !ok {
					t.Fatalf("error body lacks %s: %s", k, w.Body.String())
				}
			}
		}
	})
}

// FuzzParseV3Authorization: the parser never panics, and what it accepts
// has a key, sorted signed headers and a signature.
func FuzzParseV3Authorization(f *testing.F) {
	f.Add("ACS3-HMAC-SHA256 Credential=LTAI,SignedHeaders=host;x-acs-action;x-acs-date,Signature=abcdef")
	f.Add("ACS3-HMAC-SHA256 Credential=,SignedHeaders=,Signature=")
	f.Add("HMAC-SHA1 x")
	f.Fuzz(func(t *testing.T, h string) {
		a, err := parseV3Authorization(h)
		if err != nil {
			return
		}
		if a.accessKeyID == "" || a.signature == "" || len(a.signedHeaders) == 0 {
			t.Fatalf("accepted incomplete %q: %+v", h, a)
		}
	})
}

func TestV1StringToSign(t *testing.T) {
	t.Parallel()
	// Example from the V1 signature documentation
	// (https://www.alibabacloud.com/help/en/sdk/product-overview/rpc-mechanism).
	q := map[string][]string{
		"AccessKeyId": {"testid"}, "Action": {"DescribeDedicatedHosts"}, "Format": {"XML"},
		"RegionId": {"cn-hangzhou"}, "SignatureMethod": {"HMAC-SHA1"}, "SignatureNonce": {"3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"},
		"SignatureVersion": {"1.0"}, "Timestamp": {"2016-02-23T12:46:24Z"}, "Version": {"2014-05-26"}, "Signature": {"ignored"},
	}
	got := v1StringToSign("GET", q)
	want := "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeDedicatedHosts%26Format%3DXML%26RegionId%3Dcn-hangzhou" +
		"%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0" +
		"%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
	if got != want {
		t.Errorf("string to sign\n got %s\nwant %s", got, want)
	}
}
