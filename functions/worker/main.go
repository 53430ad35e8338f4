// Command worker is the ens-nodepool-worker function: behind an EventBridge
// MNS trigger on the requests queue it creates ENS node pools, idempotently
// and within the API's rate limit (pkg/worker). Settings come from the
// environment (pkg/config); see README "Deploy" and s.yaml.
package main

import (
	"fmt"
	"os"

	"github.com/aliyun/fc-runtime-go-sdk/fc"
	"github.com/ensnodepool/webhook/pkg/config"
)

func main() {
	s, err := config.FromEnv(os.Getenv)
	if err == nil {
		var h *handler
		if h, err = newHandler(s, os.Stdout); err == nil {
			fc.Start(h.Invoke)
			return
		}
	}
	fmt.Fprintln(os.Stderr, "worker:", err)
	os.Exit(1)
}
