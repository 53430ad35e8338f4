package enssim_test

import (
	"context"
	"testing"

	"github.com/ensnodepool/webhook/pkg/ens"
)

// TestDescribeReportsEveryElement: a pool created with only the parameters
// the document marks required is described with every documented element
// about it — NodepoolInfo (Name, NodepoolId, EnsRegionId), KubernetesConfig
// and Status — through the ENS client; no DesiredSize means an empty pool.
func TestDescribeReportsEveryElement(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	created, err := b.client.CreateClusterNodePool(ctx, &ens.CreateClusterNodePoolRequest{
		ClusterId:    "eck-demo0001",
		NodepoolInfo: &ens.NodepoolInfo{Name: "minimal"},
		ScalingGroup: &ens.ScalingGroup{ImageId: "m-6734fzvcwcv2o8jj201cpa7ox", InstanceTypes: []string{"ens.sn1.small"},
			VswitchIds: []string{"vsw-demo0001"}, KeyPairName: "key-pair-name"},
	})
	if err != nil {
		t.Fatal(err)
	}
	pools, err := b.client.DescribeClusterNodePools(ctx, "eck-demo0001")
	if err != nil || len(pools) != 1 {
		t.Fatalf("describe: %v, %d pools", err, len(pools))
	}
	p := pools[0]
	if p.NodepoolInfo.NodepoolId != created.Nodepool.NodepoolInfo.NodepoolId || p.NodepoolInfo.EnsRegionId != "cn-hangzhou-58" ||
		p.NodepoolInfo.Name != "minimal" || p.ClusterId != "eck-demo0001" {
		t.Errorf("NodepoolInfo = %+v", p.NodepoolInfo)
	}
	if p.Status.State != "active" || p.Status.DesiredNodes != 0 || p.Status.TotalNodes != 0 {
		t.Errorf("Status = %+v, want an empty active pool", p.Status)
	}
	if p.KubernetesConfig == nil {
		t.Error("KubernetesConfig missing")
	}
}
