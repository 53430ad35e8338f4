// Package bench measures the product against its limits in one run: the
// webhook's intake through the local FC runtime against the same handler
// in-process, pool creation against the ENS write limit, batched polling
// against its lower bound, the time from a pool turning active to its
// callback, and the peak RSS of each function binary — each beside a naive
// baseline where one makes the number meaningful. scripts/bench prints
// the Report as a table and writes it as JSON.
//
// Everything runs on loopback: the local stack (pkg/dev/localstack) with the
// real function binaries for intake, creation, end to end and memory, and
// the in-process poller (pkg/poller) against the MNS and ENS simulators
// for the polling sizes (1,000 and 10,000 tracked pools).
package bench
