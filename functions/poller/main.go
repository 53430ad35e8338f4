// Command poller is the poller function: on each FC timer event it runs
// one poller.Tick over the tracking queue (pkg/poller).
package main

import "github.com/ensnodepool/webhook/pkg/fcapp"

// function is the function's name as deployed (s.yaml).
const function = "ens-nodepool-poller"

func main() { fcapp.Main(function, newApp) }
