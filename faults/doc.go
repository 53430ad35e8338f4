// Package faults is the reliability and security suite. It
// holds only tests: each scenario runs the local stack (pkg/dev/localstack,
// the real function binaries under the local FC runtime) against an ENS
// simulator and an MNS service that the suite wraps with seeded fault
// injection, injects one class of fault, and checks "nothing lost,
// nothing duplicated": every (ClusterId, Name) is created at most once in
// ENS, and every expected terminal event reaches its receiver under
// exactly one webhook-id (same-id redeliveries are allowed by the
// at-least-once contract and are counted).
//
// Run:
//
//	go test -race ./faults                     # short mode (CI): a few representative faults, small N
//	go test ./faults -full -timeout 60m -v     # full run (or FAULTS_FULL=1): 20+ seeded kills, 2 min of 20 % 5xx
//	go test ./faults -run '^$' -fuzz FuzzWebhookBody -fuzztime 2m
//	FAULTS_TABLE=/tmp/faults.md go test ./faults   # also writes the result table there
//
// The result table (fault → pools created, duplicates, events delivered,
// events lost, same-id redeliveries, dead letters) is logged by
// TestFaults; docs/testing.md ("Reliability and security") keeps the tables
// of a short and a full run.
package faults
