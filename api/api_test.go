package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"gopkg.in/yaml.v3"

	"github.com/ensnodepool/webhook/api"
	"github.com/ensnodepool/webhook/api/spec"
)

// TestJSONIsTheDocument: JSON holds the same values as the YAML (decoded
// by yaml.v3 independently of the converter), in the order written, with
// the descriptions' <, > and & unescaped, and kin-openapi loads it to the
// same document.
func TestJSONIsTheDocument(t *testing.T) {
	t.Parallel()
	j, err := api.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var fromJSON, fromYAML any
	if err := json.Unmarshal(j, &fromJSON); err != nil {
		t.Fatal(err)
	}
	var y any
	if err := yaml.Unmarshal(api.YAML(), &y); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(y) // fails on a non-string key
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &fromYAML); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromJSON, fromYAML) {
		t.Error("JSON() and the YAML decode to different values")
	}
	if !bytes.HasPrefix(j, []byte(`{"openapi":"3.1.0","info":{"title":`)) {
		t.Errorf("JSON() does not keep the written order: %.60s", j)
	}
	if !bytes.Contains(j, []byte("<base64(HMAC-SHA256(")) {
		t.Error("JSON() escapes < and > in descriptions")
	}

	loader := openapi3.NewLoader()
	docJSON, err := loader.LoadFromData(j)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(loadDoc(t))
	c, _ := json.Marshal(docJSON)
	if !bytes.Equal(a, c) {
		t.Error("kin-openapi loads JSON() and the YAML to different documents")
	}
}

func TestCopies(t *testing.T) {
	t.Parallel()
	y := api.YAML()
	y[0] = 'X'
	j, _ := api.JSON()
	j[0] = 'X'
	if api.YAML()[0] == 'X' || mustJSON(t)[0] == 'X' {
		t.Error("YAML or JSON returns the package's own bytes")
	}
	d1, err := spec.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d2 := loadDoc(t)
	d1.Info.Title = "changed"
	if d2.Info.Title == "changed" {
		t.Error("Load returns a shared document")
	}
}

func mustJSON(tb testing.TB) []byte {
	tb.Helper()
	j, err := api.JSON()
	if err != nil {
		tb.Fatal(err)
	}
	return j
}

func TestHandlerServesJSON(t *testing.T) {
	t.Parallel()
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		mux := http.NewServeMux()
		mux.Handle("GET "+api.Path, api.Handler())
		srv := httptest.NewServer(mux)
		req, _ := http.NewRequestWithContext(context.Background(), method, srv.URL+api.Path, nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		_, _ = body.ReadFrom(resp.Body)
		resp.Body.Close()
		srv.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %d %s", method, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		want := mustJSON(t)
		if method == http.MethodHead {
			want = nil
		}
		if !bytes.Equal(body.Bytes(), want) || resp.ContentLength != int64(len(mustJSON(t))) {
			t.Errorf("%s: body of %d bytes (Content-Length %d), want the document", method, body.Len(), resp.ContentLength)
		}
	}
}
