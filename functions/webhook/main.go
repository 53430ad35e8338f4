// Command webhook is the ens-nodepool-webhook function: behind an FC3 HTTP
// trigger it authenticates, validates and enqueues CreateClusterNodePool
// requests and serves live pool status (pkg/intake). Settings come from the
// environment (pkg/config); see docs/operations.md, "Configuration", and s.yaml.
package main

import "github.com/ensnodepool/webhook/pkg/fcapp"

// function is the function's name as deployed (s.yaml).
const function = "ens-nodepool-webhook"

func main() { fcapp.Main(function, newApp) }
