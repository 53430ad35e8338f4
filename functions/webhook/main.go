// Command webhook is the ens-nodepool-webhook function: behind an FC3 HTTP
// trigger it authenticates, validates and enqueues CreateClusterNodePool
// requests and serves live pool status (pkg/intake). Settings come from the
// environment (pkg/config); see README "Configuration" and s.yaml.
package main

import (
	"fmt"
	"os"

	"github.com/aliyun/fc-runtime-go-sdk/fc"

	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/fcadapter"
)

func main() {
	s, err := config.FromEnv(os.Getenv)
	if err == nil {
		var a *app
		if a, err = newApp(s, os.Stdout); err == nil {
			fc.Start(fcadapter.HTTPHandler(a.handler, &fcadapter.HTTPOptions{Logger: a.log}))
			return
		}
	}
	fmt.Fprintln(os.Stderr, "webhook:", err)
	os.Exit(1)
}
