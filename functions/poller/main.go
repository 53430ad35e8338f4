// Command poller is the poller function: on each FC timer event it runs
// one poller.Tick over the tracking queue (pkg/poller).
package main

import "github.com/ensnodepool/webhook/pkg/fcapp"

func main() { fcapp.Main("poller", newApp) }
