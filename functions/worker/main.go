// Command worker is the ens-nodepool-worker function: behind an EventBridge
// MNS trigger on the requests queue it creates ENS node pools, idempotently
// and within the API's rate limit (pkg/worker). Settings come from the
// environment (pkg/config); see docs/deploy.md and s.yaml.
package main

import "github.com/ensnodepool/webhook/pkg/fcapp"

// function is the function's name as deployed (s.yaml).
const function = "ens-nodepool-worker"

func main() { fcapp.Main(function, newApp) }
