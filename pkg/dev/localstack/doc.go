// Package localstack runs the whole product on one machine: the three
// function binaries that deploy (functions/webhook, functions/worker,
// functions/poller) under the local FC runtime (pkg/dev/fclocal), a durable
// MNS-compatible queue service (pkg/dev/mnssim) and an ENS-compatible API
// service that simulates provisioning (pkg/dev/enssim), wired with the triggers
// s.yaml declares: an HTTP trigger for the webhook, an EventBridge MNS
// trigger (event-streaming, CloudEvents array, batch window, retries, then
// dead-letter) from the requests queue to the worker, and a timer for the
// poller.
//
// Start builds the binaries (or uses prebuilt ones), starts everything and
// returns a Stack; Stack.ReadyLine is the "ready http=… mns=… ens=…" line that
// README.md ("Quick start") documents. State lives under Config.DataDir, so a stack started
// again on the same directory resumes its queues and simulated pools.
// Real MNS or ENS endpoints replace the simulators when Config names them.
//
// The package also has the pieces of the demo (`go run ./scripts/local
// -demo`) and of `-receiver`: a callback Receiver that verifies Standard
// Webhooks signatures (and can print every POST), PostCreate to send a
// signed create request, and Demo to run one request to its end.
// Local mode only: callbacks may use http and reach loopback addresses.
package localstack
