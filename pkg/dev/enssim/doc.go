// Package enssim is an ENS-compatible API service that simulates node pool
// provisioning, for tests and the local stack. Not for production.
//
// It speaks the wire format of the generated ENS SDK (RPC style, parameters
// in the query or a form body, nested objects as JSON strings), verifies
// ACS3-HMAC-SHA256 and V1 HMAC-SHA1 signatures against one configured
// AccessKey pair, validates requests as the API documents, answers in the
// API's PascalCase shapes and with its JSON error bodies, and enforces the
// per-AccessKey rate limits (10 calls/s per write action, 100/s per describe
// action, sliding 1-second windows) with Throttling.User.
//
// Actions: CreateClusterNodePool, DescribeClusterNodePools,
// DescribeClusterDetail, DescribeClustersV1, ScaleClusterNodePool,
// DeleteClusterNodePool.
//
// # Provisioning
//
// A new pool is "initial" with InitialNodes = DesiredSize; its nodes become
// serving evenly over the provisioning time, after which it is "active"
// with ServingNodes = DesiredSize. A scale-out is "scaling" the same way.
// DesiredSize is optional, as in the API document; ENS documents no
// default, and the simulator creates an empty pool (0 nodes, "active") to
// be scaled out later.
// Status is derived from the creation time and the injected clock; there is
// no background work. A pool made to fail is "failed" with its counters
// frozen. Duplicate names are allowed (a second pool is created) so that
// duplicate creates can be counted.
//
// # Admin API
//
// Unsigned JSON endpoints under /_emulator/, answering only a loopback Host
// and JSON bodies (pkg/dev/adminguard): GET stats, GET pools,
// POST/GET/DELETE faults, POST fail, POST vanish, GET/POST provisioning,
// POST reset. The same operations are methods of Server (Stats,
// InjectFault, FailPool, Vanish, SetProvisionTime, Reset, Pools).
//
// State (pools, fail rules, provisioning time) is kept in a bbolt file
// under Config.Dir; counters, faults and rate windows live in memory.
package enssim
