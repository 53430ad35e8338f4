// Package poller is the core of the poller function: on each timer tick it
// drains the due tracking messages, reads each cluster's node pools once,
// turns state changes into signed callbacks and writes every message back
// with its next wake-up time. With Config.Watch it keeps watching within
// the invocation: messages of pools still provisioning come due again a few
// seconds later (tracking.Backoff) and are checked again in the same tick,
// so a change is reported within seconds although the timer fires once a
// minute.
//
// # One tick
//
//  1. Receive up to 16 due tracking messages at a time until the queue is
//     empty — and, with Config.Watch, until Watch has passed and no
//     message written back comes due before then — or the time budget
//     (context deadline minus Config.Reserve, at most Config.MaxTick) is
//     spent. Every received message is held invisible by heartbeats
//     (ChangeMessageVisibility by Config.Visibility every Config.Heartbeat,
//     with the rotated receipt handle) until it is written back, so the
//     queue's visibility timeout can be short: after a crash a message is
//     back within it, while a slow but alive tick never has a message
//     redelivered under it.
//  2. Read the node pools of every cluster that a message of the batch
//     needs: once, and again only when the last read is not newer than the
//     message's last check (DescribeClusterNodePools, all pages). ENS calls
//     per pass are therefore Σ ceil(pools per cluster / PageSize), not one
//     per pool.
//  3. Decide per pool (decide → verdict, pure): active (State active,
//     ServingNodes = DesiredNodes, InitialNodes = 0), failed (State failed,
//     the pool no longer listed, or the cluster gone), timeout (past the
//     deadline; the pool is then still checked for Config.LateWatch, so a
//     late active or failed follows) — each produced once, through
//     tracking.Message.Tell — or check again later. A cluster that could
//     not be read produces no event.
//  4. Hand the due callback attempts to the delivery side and go on
//     receiving at once: reading and checking never wait for deliveries.
//     Attempts run at most Config.CallbackConcurrency at a time and at most
//     Config.PerHost per receiver host, and a host that is not answering
//     quickly holds at most Config.HostPending messages; what does not
//     fit is deferred, not
//     attempted: its message is written back with the attempt still due
//     (its place in the retry schedule unchanged) and comes back shortly,
//     or at the next tick when the host has stopped answering (PerHost
//     attempts in a row without a response). Attempts still running when
//     the budget ends are cut and not recorded (callback.Deliverer.Try), so a
//     dead receiver cannot hold the tick past its budget. Undeliverable
//     callbacks (gone, refused, exhausted) go to the dead-letter queue with
//     their history. A 410 ends every later event of the request to that
//     URL, and a delivered event drops pending earlier ones
//     (tracking.Message.Observe).
//  5. Write back: delete messages that are done; replace changed ones
//     ("send the new message, then delete the old", safe on redelivery);
//     hide unchanged ones until their next wake-up.
//
// Messages go through the tick batch by batch and at most
// Config.MaxPending wait for callbacks, so memory does not grow with the
// number of tracked pools beyond one small status map per cluster.
//
// # Files
//
// tick.go holds the loop (steps 1 and 2), decide.go step 3, dispatch.go
// step 4 with the per-host fairness, heartbeat.go the visibility
// heartbeats and writeback.go step 5.
package poller
