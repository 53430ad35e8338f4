package popauth

import "testing"

// FuzzParseV3Authorization: the parser never panics, and what it accepts
// has a key, sorted signed headers and a signature.
func FuzzParseV3Authorization(f *testing.F) {
	f.Add("ACS3-HMAC-SHA256 Credential=LTAI,SignedHeaders=host;x-acs-action;x-acs-date,Signature=abcdef")
	f.Add("ACS3-HMAC-SHA256 Credential=,SignedHeaders=,Signature=")
	f.Add("HMAC-SHA1 x")
	f.Fuzz(func(t *testing.T, h string) {
		a, err := ParseV3Authorization(h)
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
