package localstack_test

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/ensnodepool/webhook/pkg/dev/localstack"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
)

func TestRequest(t *testing.T) {
	got, err := localstack.Request(testkit.Template(t, filepath.Join("..", "..", "..")), "pool-7", "http://127.0.0.1:1234/callback")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		ClusterId    string
		NodepoolInfo struct{ Name string }
		ScalingGroup struct {
			DesiredSize int
			DataDisks   []struct{ Size int }
		}
		Callback struct{ Url string }
	}
	if err := json.Unmarshal(got, &m); err != nil {
		t.Fatal(err)
	}
	if m.NodepoolInfo.Name != "pool-7" || m.Callback.Url != "http://127.0.0.1:1234/callback" {
		t.Errorf("rewritten = %s", got)
	}
	if m.ClusterId != "eck-demo0001" || m.ScalingGroup.DesiredSize != 3 || len(m.ScalingGroup.DataDisks) != 1 || m.ScalingGroup.DataDisks[0].Size != 80 {
		t.Errorf("other members changed: %s", got)
	}
	if _, err := localstack.Request([]byte("[1]"), "x", "y"); err == nil {
		t.Error("Request(array) = nil error")
	}
}
