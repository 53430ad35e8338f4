package e2e

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/chatops"
	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/dev/localstack"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
)

// TestE2ESecretsInKMS: every secret setting — the webhook, callback and
// sealing secrets and all ChatOps secrets — lives in the local KMS
// (pkg/dev/kmssim) and reaches the function binaries only as
// "kms:<name>", read through the official KMS Go SDK with the functions'
// credentials. A signed request is accepted, sealed, created and reported
// with verified callbacks; a Slack command verifies; and a rotated webhook
// secret is in use after the refresh period, without a restart.
func TestE2ESecretsInKMS(t *testing.T) {
	t.Parallel()
	_, sec, cfg := newE2E(t)
	cfg.SecretsInKMS, cfg.KMSAddr, cfg.SecretsRefresh = true, "127.0.0.1:0", time.Second
	chat := map[string]string{
		config.EnvSlackSigningSecret: "e2e-kms-slack-signing",
		config.EnvDingTalkAppSecret:  "e2e-kms-dingtalk-secret",
		config.EnvFeishuToken:        "e2e-kms-feishu-token",
		config.EnvFeishuEncryptKey:   "e2e-kms-feishu-encrypt",
		config.EnvFeishuAppSecret:    "e2e-kms-feishu-app-secret",
	}
	cfg.Env = map[string]string{config.EnvFeishuAppID: "cli_e2e"}
	for k, v := range chat {
		cfg.Env[k] = v
	}
	st := testkit.Start(t, cfg)
	defer st.Close()
	if !strings.Contains(st.ReadyLine(), " kms=127.0.0.1:") {
		t.Errorf("ReadyLine() = %q, want the KMS address", st.ReadyLine())
	}

	// No function process holds a secret value in its environment; each
	// secret setting is a reference.
	plain := []string{sec.Webhook, sec.Callback, localstack.DevSealKeys}
	for _, v := range chat {
		plain = append(plain, v)
	}
	for _, fn := range []string{localstack.FuncWebhook, localstack.FuncWorker, localstack.FuncPoller} {
		for _, inst := range st.Runtime().Instances(fn) {
			environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", inst.PID))
			if err != nil {
				t.Skipf("cannot read a process environment here: %v", err)
			}
			for _, v := range plain {
				if bytes.Contains(environ, []byte(v)) {
					t.Errorf("%s (pid %d) has a secret value in its environment", fn, inst.PID)
				}
			}
			for _, k := range config.SecretSettings() {
				if !bytes.Contains(environ, []byte("\x00"+k+"=kms:ens-nodepool/")) {
					t.Errorf("%s: %s is not a KMS reference", fn, k)
				}
			}
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var log bytes.Buffer
	res, err := demo(ctx, st, localstack.DemoConfig{WebhookSecret: sec.Webhook, CallbackSecret: sec.Callback,
		Template: template(t), Out: &log})
	t.Logf("demo output:\n%s", log.String())
	if err != nil {
		t.Fatalf("Demo with secrets in KMS: %v", err)
	}
	var types []string
	for _, c := range res.Callbacks {
		if !c.Duplicate {
			types = append(types, c.Event.Type)
		}
	}
	if strings.Join(types, ",") != callback.TypeCreating+","+callback.TypeActive {
		t.Errorf("callbacks = %v, want creating, active", types)
	}

	// A Slack command signed with the KMS-held signing secret verifies.
	form := url.Values{"command": {"/nodepool"}, "text": {"help"}, "trigger_id": {"kms.1"}, "user_id": {"U1"}, "channel_id": {"C1"}}
	body := []byte(form.Encode())
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, st.URL()+"/v1/chatops/slack", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(chatops.SlackSignature(chat[config.EnvSlackSigningSecret], ts, body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("Slack command signed with the KMS secret: status %d, want 200", resp.StatusCode)
	}

	// Rotation: a new ACSCurrent version of the webhook secret is accepted
	// once the functions' refresh period (1 s here) has passed.
	rotated := testkit.NewSecrets(t).Webhook
	if status, _, err := statusOf(ctx, st, rotated, "eck-demo0001", res.Accepted.Name); err != nil || status != http.StatusUnauthorized {
		t.Fatalf("a not yet stored secret: %d, %v; want 401", status, err)
	}
	st.KMS().PutSecret("ens-nodepool/"+strings.ToLower(config.EnvWebhookSecret), rotated)
	testkit.WaitFor(t, 20*time.Second, "the rotated webhook secret to be accepted", func() bool {
		status, _, err := statusOf(ctx, st, rotated, "eck-demo0001", res.Accepted.Name)
		return err == nil && status == http.StatusOK
	})
	// Each webhook instance refreshes on its first invocation after the
	// period; then none accepts the replaced secret.
	testkit.WaitFor(t, 20*time.Second, "every webhook instance to refuse the replaced secret", func() bool {
		for range 2 * st.Config().WebhookInstances {
			status, _, err := statusOf(ctx, st, sec.Webhook, "eck-demo0001", res.Accepted.Name)
			if err != nil || status != http.StatusUnauthorized {
				return false
			}
		}
		return true
	})
	if st.KMS().Calls() == 0 {
		t.Error("the functions never called KMS")
	}
}
