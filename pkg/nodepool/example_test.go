package nodepool_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// ExampleSubmit puts one validated request on the requests queue, as each
// front door does. The queue here prints the envelope it is given; in the
// functions it is the MNS requests queue, which acknowledges with a
// message id.
func ExampleSubmit() {
	body := []byte(`{
	  "ClusterId": "eck-xxxxxxxx",
	  "NodepoolInfo": {"Name": "edge-pool"},
	  "ScalingGroup": {
	    "DesiredSize": 3, "ImageId": "m-6734fzvcwcv2o8jj201cpa7ox", "InstanceChargeType": "PostPaid",
	    "InstanceTypes": ["ens.sn1.small"], "Password": "Example-Passw0rd",
	    "SystemDiskCategory": "cloud_efficiency", "SystemDiskSize": 80,
	    "VswitchIds": ["vsw-58eu2p6v64qw8ihhit1wz7wgv"]
	  }
	}`)
	req, err := nodepool.Decode(body)
	if err != nil {
		log.Fatal(err)
	}
	if err := nodepool.NewValidator(nodepool.ValidationConfig{}).Validate(req); err != nil {
		log.Fatal(err)
	}
	// SEAL_KEYS: the password travels sealed with the first key.
	keys, err := nodepool.ParseKeys("k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=")
	if err != nil {
		log.Fatal(err)
	}
	sealer, err := nodepool.NewSealer(keys)
	if err != nil {
		log.Fatal(err)
	}
	queue := nodepool.SenderFunc(func(_ context.Context, msg string) (string, error) {
		env, err := nodepool.Parse([]byte(msg))
		if err != nil {
			return "", err
		}
		fmt.Printf("queued %s (%s) %s/%s\n", env.RequestId, env.Source, env.Request.ClusterId, env.Request.NodepoolInfo.Name)
		fmt.Printf("password in the clear: %t, sealed: %t\n", strings.Contains(msg, "Example-Passw0rd"), env.SealedPassword != "")
		return "msg-1", nil
	})
	sub := nodepool.Submission{
		Request:    req,
		RequestID:  nodepool.RequestID("order-4711", ""),
		Source:     nodepool.SourceWebhook,
		ReceivedAt: time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC),
		Sealer:     sealer,
	}
	id, err := nodepool.Submit(context.Background(), queue, sub)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("acknowledged as", id)

	// A queue that does not acknowledge: nothing was accepted, the caller
	// may retry.
	down := nodepool.SenderFunc(func(context.Context, string) (string, error) {
		return "", errors.New("connection refused")
	})
	_, err = nodepool.Submit(context.Background(), down, sub)
	fmt.Println("not sent:", errors.Is(err, nodepool.ErrNotSent))
	// Output:
	// queued req_6fdpl4ntgum6tgmmalbnu7epg5 (webhook) eck-xxxxxxxx/edge-pool
	// password in the clear: false, sealed: true
	// acknowledged as msg-1
	// not sent: true
}
