package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ensnodepool/webhook/pkg/caller"
	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/dev/mnssim"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
	"github.com/ensnodepool/webhook/pkg/mns"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// TestMain fails the run if a test leaves a goroutine running.
func TestMain(m *testing.M) { testkit.VerifyTestMain(m) }

const (
	// callerSecret is portal-a's secret in these tests (used nowhere else).
	callerSecret = "whsec_ZW5xdWV1ZS10ZXN0LXBvcnRhbC1hLXNlY3JldC0wMA=="
	ak, sk       = "test-ak", "test-secret"
	sealKeys     = "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
	request      = `{"ClusterId":"eck-demo0001","NodepoolInfo":{"Name":"cli"},"ScalingGroup":{"DesiredSize":1,"InstanceTypes":["ens.sn1.small"],"ImageId":"m-abc","VswitchIds":["vsw-demo0001"],"Password":"Sup3r-Secret"}}`
)

func TestEnqueueSealsAndSends(t *testing.T) {
	t.Parallel()
	ms := testkit.StartMNS(t, mnssim.Config{AccessKeyID: ak, AccessKeySecret: sk})
	q := ms.EnsureQueues(t, mns.QueueAttributes{}, "reqs")[0]
	ctx := context.Background()
	env := map[string]string{config.EnvSealKeys: sealKeys, config.EnvAccessKeyID: ak, config.EnvAccessKeySecret: sk, envCallerSecret: callerSecret}
	var out bytes.Buffer
	err := run(ctx, []string{"-file", "-", "-endpoint", ms.URL(), "-queue", "reqs", "-idempotency-key", "k-1", "-caller", "portal-a"},
		func(k string) string { return env[k] }, strings.NewReader(request), &out)
	if err != nil {
		t.Fatal(err)
	}
	var printed map[string]string
	if err := json.Unmarshal(out.Bytes(), &printed); err != nil || printed["RequestId"] != nodepool.RequestID("k-1", "") {
		t.Fatalf("output %q (%v)", out.String(), err)
	}
	msgs, err := q.Receive(ctx, 1, 0)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("receive: %v, %d messages", err, len(msgs))
	}
	if strings.Contains(msgs[0].Body, "Sup3r-Secret") {
		t.Fatal("the envelope carries the password in clear")
	}
	signed, err := nodepool.ParseSigned([]byte(msgs[0].Body))
	if err != nil {
		t.Fatalf("-caller sent no signed envelope: %v", err)
	}
	raw, _ := caller.ParseSecret(callerSecret)
	if err := signed.Verify([][]byte{nodepool.EnvelopeKey(raw)}); err != nil {
		t.Errorf("the signature does not verify with CALLER_SECRET: %v", err)
	}
	e, err := nodepool.Parse([]byte(signed.Envelope))
	if err != nil {
		t.Fatal(err)
	}
	if e.Caller != "portal-a" || signed.Caller != "portal-a" {
		t.Errorf("Caller = %q, %q, want the -caller flag", e.Caller, signed.Caller)
	}
	keys, _ := nodepool.ParseKeys(sealKeys)
	s, _ := nodepool.NewSealer(keys)
	r, err := e.Open(s)
	if err != nil || r.ScalingGroup.Password != "Sup3r-Secret" {
		t.Fatalf("open: %v", err)
	}
}

func TestEnqueueRefuses(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		env   map[string]string
		input string
		want  string
	}{
		"invalid":              {map[string]string{config.EnvSealKeys: sealKeys}, strings.Replace(request, `"DesiredSize":1`, `"DesiredSize":0`, 1), "ScalingGroup.DesiredSize"},
		"password no keys":     {map[string]string{}, request, "SEAL_KEYS"},
		"unknown field":        {map[string]string{config.EnvSealKeys: sealKeys}, strings.Replace(request, `"ClusterId"`, `"Extra":1,"ClusterId"`, 1), "Extra"},
		"no endpoint for send": {map[string]string{config.EnvSealKeys: sealKeys}, request, "endpoint"},
		"no credentials": {map[string]string{config.EnvSealKeys: sealKeys, config.EnvMNSEndpoint: "http://127.0.0.1:9"}, request,
			"set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET"},
		"bad endpoint": {map[string]string{config.EnvSealKeys: sealKeys, config.EnvMNSEndpoint: "127.0.0.1:9/x"}, request, "-endpoint (or MNS_ENDPOINT)"},
		"endpoint with user info": {map[string]string{config.EnvSealKeys: sealKeys, config.EnvMNSEndpoint: "http://ak:c2hvcnQ@127.0.0.1:9"},
			request, "without user info"},
		"http callback without the flag": {map[string]string{config.EnvSealKeys: sealKeys},
			strings.Replace(request, `"ClusterId"`, `"Callback":{"Url":"http://127.0.0.1:8080/cb"},"ClusterId"`, 1), "add -allow-http-callback"},
		"bad caller id":             {map[string]string{config.EnvSealKeys: sealKeys, "CALLER": "Not An Id", envCallerSecret: callerSecret}, request, "Caller"},
		"caller without its secret": {map[string]string{config.EnvSealKeys: sealKeys, "CALLER": "portal-a"}, request, "-caller needs CALLER_SECRET"},
		"caller with a bad secret": {map[string]string{config.EnvSealKeys: sealKeys, "CALLER": "portal-a", envCallerSecret: "whsec_c2hvcnQ="},
			request, "CALLER_SECRET: 5 bytes"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			args := []string{"-file", "-"}
			if c := tc.env["CALLER"]; c != "" {
				args = append(args, "-caller", c, "-dry-run")
			}
			err := run(context.Background(), args, func(k string) string { return tc.env[k] },
				strings.NewReader(tc.input), &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.want)
			}
			if err != nil && (strings.Contains(err.Error(), "c2hvcnQ") || strings.Contains(err.Error(), callerSecret[6:])) {
				t.Errorf("err = %v holds the secret", err)
			}
			if err != nil && strings.Contains(err.Error(), "Config.") {
				t.Errorf("err = %v names a Go struct field, not what the user sets", err)
			}
		})
	}
}

// TestEnqueueLocalCallback: -allow-http-callback accepts what the local
// stack allows (http, loopback), as its functions do.
func TestEnqueueLocalCallback(t *testing.T) {
	t.Parallel()
	body := strings.Replace(request, `"ClusterId"`, `"Callback":{"Url":"http://127.0.0.1:8080/cb"},"ClusterId"`, 1)
	env := map[string]string{config.EnvSealKeys: sealKeys}
	var out bytes.Buffer
	err := run(context.Background(), []string{"-file", "-", "-dry-run", "-allow-http-callback"}, func(k string) string { return env[k] },
		strings.NewReader(body), &out)
	if err != nil || !strings.Contains(out.String(), "http://127.0.0.1:8080/cb") {
		t.Fatalf("err = %v, out %s", err, out.String())
	}
}
