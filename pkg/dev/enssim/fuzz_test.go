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
