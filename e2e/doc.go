// Package e2e holds the product's end-to-end tests: each one runs the
// three function binaries that deploy (functions/webhook, functions/worker,
// functions/poller), built once per run, under the local FC runtime with
// the MNS, ENS and KMS simulators — a local stack started through
// pkg/dev/localstack's exported API — and drives them as a caller, a chat
// platform or an operator would: signed requests in, signed callbacks and
// chat replies out, queues, dead letters, restarts and kills, logs.
//
// Run:
//
//	go test -race ./e2e
//	go test -short ./e2e                                   # leaves out the heavy cases
//	LOCALSTACK_MEASURE=1 go test -run TestMeasure -v ./e2e # cold starts and latencies
//
// The reliability and security suite, with seeded fault injection, is
// faults/.
package e2e
