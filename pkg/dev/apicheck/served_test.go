package apicheck

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ensnodepool/webhook/api"
	"github.com/ensnodepool/webhook/api/spec"
	"github.com/ensnodepool/webhook/pkg/chatops"
	"github.com/ensnodepool/webhook/pkg/chatreply"
)

type noReplies struct{}

func (noReplies) Reply(context.Context, string, string) error { return nil }

// webhookFunction routes as the webhook function does (functions/webhook):
// /v1/chatops/* to the ChatOps handler with every platform on, the rest to
// the JSON API.
func webhookFunction(tb testing.TB) http.Handler {
	tb.Helper()
	q := &memQueue{}
	slack, err := chatops.NewSlackVerifier(chatops.VerifierConfig{Secrets: []string{"slack-secret"}})
	if err != nil {
		tb.Fatal(err)
	}
	ding, err := chatops.NewDingTalkVerifier(chatops.VerifierConfig{Secrets: []string{"dingtalk-secret"}})
	if err != nil {
		tb.Fatal(err)
	}
	feishu, err := chatops.NewFeishuVerifier(chatops.FeishuConfig{VerificationTokens: []string{"feishu-token"}})
	if err != nil {
		tb.Fatal(err)
	}
	fc, err := chatreply.NewFeishuClient(chatreply.FeishuClientConfig{AppID: "app", AppSecret: "app-secret"})
	if err != nil {
		tb.Fatal(err)
	}
	chat, err := chatops.New(chatops.Config{Slack: slack, DingTalk: ding, Feishu: feishu, FeishuClient: fc, FeishuReplier: noReplies{},
		Queue: q, Pools: pools{demoPool}})
	if err != nil {
		tb.Fatal(err)
	}
	jsonAPI := intakeHandler(tb, q)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if chatops.Route(r.URL.Path) {
			chat.ServeHTTP(w, r)
			return
		}
		jsonAPI.ServeHTTP(w, r)
	})
}

// routed reports whether the service has a route for r: it does not answer
// "no such route" (404) or "method not allowed" (405).
func routed(h http.Handler, r *http.Request) bool {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	body := w.Body.String()
	return w.Code != http.StatusMethodNotAllowed &&
		(w.Code != http.StatusNotFound || !strings.Contains(body, "no such route") && strings.TrimSpace(body) != "not found")
}

// TestPlannedMeansNotServed: every operation of the document is routed by
// the service unless it is marked x-planned, and none marked x-planned is
// (drop the mark when it is served). The planned dry run is checked the
// same way: a signed POST with dryRun=true must not answer 200 while the
// parameter is marked.
func TestPlannedMeansNotServed(t *testing.T) {
	t.Parallel()
	doc, err := spec.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h := webhookFunction(t)
	n := 0
	for _, path := range doc.Paths.InMatchingOrder() {
		for method, op := range doc.Paths.Value(path).Operations() {
			n++
			target := strings.NewReplacer("{ClusterId}", "eck-demo0001", "{Name}", "demo-pool", "{RequestId}", "req_ijd664d3hd2i37rhdq7qsen3jz").Replace(path)
			planned := op.Extensions["x-planned"] == true
			if got := routed(h, unsigned(method, target, nil)); got == planned {
				t.Errorf("%s %s: x-planned %v but routed %v", method, path, planned, got)
			}
		}
	}
	if n < 9 {
		t.Fatalf("found %d operations", n)
	}
	dry := doc.Paths.Value("/v1/nodepools").Post.Parameters.GetByInAndName("query", "dryRun")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, signed(t, "POST", "/v1/nodepools?dryRun=true", bytes.ReplaceAll(ensDoc(t), []byte("eck-xxxxxxxx"), []byte("eck-demo0001")), secret))
	if planned := dry.Extensions["x-planned"] == true; planned == (w.Code == http.StatusOK) {
		t.Errorf("dryRun: x-planned %v but a dry run answers %d", planned, w.Code)
	}
}

// TestDocumentServedAsDescribed: api.Handler at GET /v1/openapi.json
// answers as the document describes that route.
func TestDocumentServedAsDescribed(t *testing.T) {
	t.Parallel()
	check := NewT(t, Config{})
	mux := http.NewServeMux()
	mux.Handle("GET "+api.Path, api.Handler())
	if got := serve(check.Handler(mux), unsigned("GET", api.Path, nil)); got != http.StatusOK || check.Checked() != 1 {
		t.Errorf("status %d, checked %d", got, check.Checked())
	}
}
