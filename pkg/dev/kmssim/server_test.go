package kmssim_test

import (
	"errors"
	"io"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	kms "github.com/alibabacloud-go/kms-20160120/v3/client"
	"github.com/alibabacloud-go/tea/tea"

	"github.com/ensnodepool/webhook/pkg/dev/kmssim"
)

const keyID, keySecret = "LTAI5tKMSSimTest", "kmssim-test-secret"

// client is the official KMS SDK pointed at srv; v1 selects the V1
// HMAC-SHA1 signature instead of ACS3.
func client(t *testing.T, srvURL, secret, token string, v1 bool) *kms.Client {
	t.Helper()
	u, _ := url.Parse(srvURL)
	cfg := &openapi.Config{AccessKeyId: tea.String(keyID), AccessKeySecret: tea.String(secret),
		Endpoint: tea.String(u.Host), Protocol: tea.String("HTTP"), RegionId: tea.String("cn-hangzhou")}
	if token != "" {
		cfg.SecurityToken = tea.String(token)
	}
	if v1 {
		cfg.SignatureAlgorithm = tea.String("v2")
	}
	c, err := kms.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGetSecretValueThroughTheSDK(t *testing.T) {
	t.Parallel()
	sim, err := kmssim.New(kmssim.Config{AccessKeyID: keyID, AccessKeySecret: keySecret,
		Secrets: map[string]string{"app/webhook": "whsec_first"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()
	get := func(c *kms.Client, name string) (*kms.GetSecretValueResponseBody, error) {
		r, err := c.GetSecretValue(&kms.GetSecretValueRequest{SecretName: tea.String(name)})
		if err != nil {
			return nil, err
		}
		return r.Body, nil
	}
	code := func(err error) string {
		var se *tea.SDKError
		if errors.As(err, &se) {
			return tea.StringValue(se.Code)
		}
		return "not an SDK error: " + err.Error()
	}
	for _, tc := range []struct {
		name  string
		v1    bool
		token string
	}{{"ACS3", false, ""}, {"V1", true, ""}, {"ACS3+STS", false, "sts-token"}, {"V1+STS", true, "sts-token"}} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := get(client(t, srv.URL, keySecret, tc.token, tc.v1), "app/webhook")
			if err != nil {
				t.Fatal(err)
			}
			if tea.StringValue(b.SecretData) != "whsec_first" || tea.StringValue(b.SecretName) != "app/webhook" ||
				tea.StringValue(b.RequestId) == "" || len(b.VersionStages.VersionStage) != 1 ||
				tea.StringValue(b.VersionStages.VersionStage[0]) != "ACSCurrent" {
				t.Errorf("answer %s", b)
			}
			if _, err := get(client(t, srv.URL, "wrong", tc.token, tc.v1), "app/webhook"); code(err) != "SignatureDoesNotMatch" {
				t.Errorf("wrong secret: %v", err)
			}
		})
	}
	c := client(t, srv.URL, keySecret, "", false)
	if _, err := get(c, "app/none"); code(err) != "Forbidden.ResourceNotFound" {
		t.Errorf("unknown secret: %v", err)
	}
	sim.PutSecret("app/webhook", "whsec_second")
	b, err := get(c, "app/webhook")
	if err != nil || tea.StringValue(b.SecretData) != "whsec_second" || tea.StringValue(b.VersionId) != "v2" {
		t.Errorf("after rotation: %v %s", err, b)
	}
	// Four reads, the unknown secret, the read after rotation; calls with
	// a wrong key are refused before they count.
	if n := sim.Calls(); n != 6 {
		t.Errorf("Calls = %d, want 6", n)
	}
}

func TestRefusesUnsignedAndUnknownActions(t *testing.T) {
	t.Parallel()
	sim, err := kmssim.New(kmssim.Config{AccessKeyID: keyID, AccessKeySecret: keySecret})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()
	for q, want := range map[string]string{
		"Action=GetSecretValue&Version=2016-01-20&SecretName=x": "IncompleteSignature",
		"Action=GetSecretValue&Version=2015-01-01":              "InvalidVersion",
	} {
		res, err := srv.Client().Post(srv.URL+"/?"+q, "application/x-www-form-urlencoded", nil)
		if err != nil {
			t.Fatal(err)
		}
		var buf strings.Builder
		_, _ = io.Copy(&buf, res.Body)
		res.Body.Close()
		if !strings.Contains(buf.String(), `"Code":"`+want+`"`) {
			t.Errorf("%s: %d %s, want %s", q, res.StatusCode, buf.String(), want)
		}
	}
}

// TestListsSecretNames: GET /_emulator/secrets (and Names) lists every
// secret by name with its versions, sorted, and never a value; a rotation
// through POST adds a version.
func TestListsSecretNames(t *testing.T) {
	t.Parallel()
	sim, err := kmssim.New(kmssim.Config{AccessKeyID: keyID, AccessKeySecret: keySecret,
		Secrets: map[string]string{"ens-nodepool/webhook_secret": "whsec_value-Zq1", "ens-nodepool/callback_secret": "whsec_value-Zq2"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()
	res, err := srv.Client().Post(srv.URL+"/_emulator/secrets", "application/json",
		strings.NewReader(`{"SecretName":"ens-nodepool/webhook_secret","SecretData":"whsec_value-Zq3"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	res, err = srv.Client().Get(srv.URL + "/_emulator/secrets")
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	_, _ = io.Copy(&buf, res.Body)
	res.Body.Close()
	want := `{"Secrets":[{"SecretName":"ens-nodepool/callback_secret","VersionIds":["v1"]},` +
		`{"SecretName":"ens-nodepool/webhook_secret","VersionIds":["v1","v2"]}]}` + "\n"
	if res.StatusCode != 200 || buf.String() != want {
		t.Errorf("GET /_emulator/secrets: %d %s, want %s", res.StatusCode, buf.String(), want)
	}
	if strings.Contains(buf.String(), "Zq") {
		t.Error("a secret value was listed")
	}
	if n := sim.Names(); len(n) != 2 || n[1].SecretName != "ens-nodepool/webhook_secret" || len(n[1].VersionIds) != 2 {
		t.Errorf("Names = %+v", n)
	}
}
