package intake

import (
	"bytes"
	"context"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/dev/testkit"
	"github.com/ensnodepool/webhook/pkg/ens"
)

// TestSignedGETRecipe runs the signed GET of docs/api.md ("A signed GET
// with curl") as written, in bash with openssl and curl, against the
// handler configured with the block's secret (the stack's development
// value) on a local port in place of 9000: the answer is the pool, as the
// block's "# →" line shows. The same block with the pool in the URL
// changed after signing is refused with 401: the signature covers the
// path.
func TestSignedGETRecipe(t *testing.T) {
	testkit.NeedTools(t, "bash", "curl", "openssl", "base64", "od")
	recipes := testkit.Recipes(t, filepath.Join("..", "..", "docs", "api.md"), "## Pool status")
	if len(recipes) != 1 || recipes[0].Answer == nil {
		t.Fatalf("want one sh block with a # → line, got %+v", recipes)
	}
	r := recipes[0]
	m := regexp.MustCompile(`(?m)^SECRET=(\S+)`).FindStringSubmatch(r.Shell)
	if m == nil {
		t.Fatalf("no SECRET= in the recipe:\n%s", r.Shell)
	}
	pool := ens.NodePool{ClusterId: "eck-demo0001",
		NodepoolInfo: ens.NodepoolInfo{Name: "demo-pool", NodepoolId: "np-0001", EnsRegionId: "cn-hangzhou-58"},
		ScalingGroup: ens.ScalingGroup{DesiredSize: 2, ImageId: "m-6734fzvcwcv2o8jj201cpa7ox", InstanceTypes: []string{"ens.sn1.small"},
			VswitchIds: []string{"vsw-demo0001"}, KeyPairName: "demo-keypair"},
		Status: ens.NodePoolStatus{State: "active", DesiredNodes: 2, ServingNodes: 2}}
	b := setup(t, func(c *Config) {
		c.Secrets, c.Now = []string{m[1]}, time.Now // the recipe signs with the time of day
		c.Pools = fakePools{fn: func(_ context.Context, clusterID string) ([]ens.NodePool, error) {
			if clusterID != pool.ClusterId {
				return nil, ens.ErrNotFound
			}
			return []ens.NodePool{pool}, nil
		}}
	})
	srv := httptest.NewServer(b.h)
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	out, err := testkit.RunRecipe(t, ".", r.Shell, "127.0.0.1:9000", host)
	if err != nil || !r.Answer.Match(bytes.TrimSpace(out)) {
		t.Fatalf("recipe: %v\n%s\nwant %s", err, out, r.Answer)
	}
	out, err = testkit.RunRecipe(t, ".", r.Shell, "127.0.0.1:9000$URLPATH", host+"/v1/clusters/eck-demo0001/nodepools/other-pool")
	if err != nil || !bytes.Contains(out, []byte(`"status":401`)) {
		t.Fatalf("another pool under the same signature: %v\n%s\nwant a 401", err, out)
	}
}
