package poller

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/ens"
	"github.com/ensnodepool/webhook/pkg/tracking"
)

// Error codes of the poller's nodepool.failed and nodepool.timeout events
// (the list of every code is callback.Codes).
const (
	// CodeFailed: ENS reports the node pool's state as failed.
	CodeFailed = callback.CodeNodepoolFailed
	// CodeVanished: the node pool is no longer listed by DescribeClusterNodePools.
	CodeVanished = callback.CodeNodepoolVanished
	// CodeClusterNotFound: ENS says the cluster does not exist (any more).
	CodeClusterNotFound = callback.CodeClusterNotFound
	// CodeTimeout: the node pool was not active by its deadline.
	CodeTimeout = callback.CodeNodepoolTimeout
)

// cluster is what one DescribeClusterNodePools read says about a cluster,
// reduced to what decisions need.
type cluster struct {
	// readAt is when the read began: the list holds every pool whose
	// create returned before then.
	readAt time.Time
	// pools maps NodepoolId to status; nil when err is set.
	pools map[string]ens.NodePoolStatus
	// regions maps NodepoolId to the pool's EnsRegionId.
	regions map[string]string
	// gone: ENS answered that the cluster does not exist.
	gone bool
	// err is a transient failure (throttled beyond retries, 5xx, timeout):
	// the cluster's messages are left to be checked again later.
	err error
}

// newCluster reduces a DescribeClusterNodePools answer to a read begun at readAt.
func newCluster(readAt time.Time, pools []ens.NodePool, err error) *cluster {
	if err != nil {
		if _, api := ens.AsAPIError(err); api && errors.Is(err, ens.ErrNotFound) {
			return &cluster{readAt: readAt, gone: true}
		}
		return &cluster{readAt: readAt, err: err}
	}
	c := &cluster{readAt: readAt, pools: make(map[string]ens.NodePoolStatus, len(pools)), regions: make(map[string]string, len(pools))}
	for i := range pools {
		id := pools[i].NodepoolInfo.NodepoolId
		c.pools[id] = pools[i].Status
		c.regions[id] = pools[i].NodepoolInfo.EnsRegionId
	}
	return c
}

// newerThan reports whether c is a successful read that can tell m
// something new: it began after the pool was created and after the read
// m's last check used. A message that comes due again within one long
// tick, or a pool created after its cluster was read, needs a new read.
func (c *cluster) newerThan(m *tracking.Message) bool {
	return c.err == nil && !c.gone && c.readAt.After(m.CreatedAt) && c.readAt.After(m.CheckedAt)
}

// verdict is what decide did to one message.
type verdict struct {
	checked bool   // a status was observed and compared
	event   string // the event type produced, if any
	stale   bool   // the cluster could not be read: check again later
}

// isActive reports whether st is the success state: "active" with every
// desired node serving and none initialising (node pool lifecycle:
// https://help.aliyun.com/en/ack/ack-edge/user-guide/node-pool-lifecycle).
func isActive(st ens.NodePoolStatus) bool {
	return strings.EqualFold(st.State, "active") && st.ServingNodes == st.DesiredNodes && st.InitialNodes == 0
}

// decide updates m from its cluster's view c at now: it records the
// observed state and produces at most one event, through Message.Tell so
// that each event type is produced once per pool. Past the deadline it
// produces nodepool.timeout and keeps checking for Config.LateWatch: a
// pool that becomes active or fails in that time gets its late event;
// after it the pool is no longer checked. c is nil for messages that need
// no status (already Terminal).
func (p *Poller) decide(m *tracking.Message, c *cluster, now time.Time) verdict {
	var v verdict
	if m.Terminal || c == nil {
		return v
	}
	if c.err != nil {
		v.stale = true
		return v
	}
	v.checked = true
	typ, info, stat := p.observe(m, c, now)
	timedOut := m.WasTold(callback.TypeTimeout)
	switch {
	case typ == "" && !timedOut && !now.Before(p.deadline(m)):
		if p.timeout(m, stat, now) {
			v.event = callback.TypeTimeout
		}
	case typ == "" && timedOut && !now.Before(m.WatchUntil):
		// The watch after the timeout is over: stop checking.
		m.Terminal = true
	case typ == "":
		m.Checks++
	default:
		m.Terminal = true
		if m.Tell(p.event(m, typ, now, stat, info), now) {
			v.event = typ
		}
	}
	return v
}

// observe records on m what c says about its pool and returns the
// terminal event that says (nodepool.active or nodepool.failed, with its
// error), or "" while the pool is still on its way or not listed yet; stat
// is the pool's status when c lists it.
func (p *Poller) observe(m *tracking.Message, c *cluster, now time.Time) (typ string, info *callback.ErrorInfo, stat *ens.NodePoolStatus) {
	st, listed := c.pools[m.NodepoolId]
	if !c.gone {
		m.CheckedAt = c.readAt
	}
	switch {
	case c.gone:
		return callback.TypeFailed, &callback.ErrorInfo{Code: CodeClusterNotFound,
			Message: fmt.Sprintf("cluster %s does not exist", m.ClusterId)}, nil
	case !listed && !c.readAt.After(m.CreatedAt):
		// The read began before the pool was created: it cannot list it.
	case !listed && m.LastState == "" && now.Sub(m.CreatedAt) < p.cfg.VanishGrace:
		// Just created and not listed yet: give ENS time to list it.
	case !listed && m.Missing+1 < tracking.MissingLimit:
		// Pages can shift while pools are created or deleted between two
		// page reads; one miss is not proof. Look again at the next wake.
		m.Missing++
	case !listed:
		return callback.TypeFailed, &callback.ErrorInfo{Code: CodeVanished,
			Message: fmt.Sprintf("node pool %s is no longer listed in cluster %s (last state %q)", m.NodepoolId, m.ClusterId, m.LastState)}, nil
	default:
		m.Missing = 0
		m.LastState = st.State
		if r := c.regions[m.NodepoolId]; r != "" {
			m.EnsRegionId = r
		}
		switch {
		case isActive(st):
			return callback.TypeActive, nil, &st
		case strings.EqualFold(st.State, "failed"):
			return callback.TypeFailed, &callback.ErrorInfo{Code: CodeFailed,
				Message: fmt.Sprintf("ENS reports node pool %s as %s (%d of %d nodes serving)", m.NodepoolId, st.State, st.ServingNodes, st.DesiredNodes)}, &st
		}
		return "", nil, &st
	}
	return "", nil, nil
}

// deadline is when m's pool must be active: its Deadline, or CreatedAt +
// Config.DefaultDeadline for a message without one.
func (p *Poller) deadline(m *tracking.Message) time.Time {
	if m.Deadline.IsZero() {
		return m.CreatedAt.Add(p.cfg.DefaultDeadline)
	}
	return m.Deadline
}

// timeout tells nodepool.timeout on m (stat is the pool's last status,
// nil when not listed) and starts the late watch: m is checked until
// WatchUntil for a late nodepool.active or nodepool.failed. It reports
// whether the event was produced (not told before).
func (p *Poller) timeout(m *tracking.Message, stat *ens.NodePoolStatus, now time.Time) bool {
	watch := now.Add(p.cfg.LateWatch).UTC()
	msg := fmt.Sprintf("node pool %s was not active by its deadline %s", m.NodepoolId, p.deadline(m).UTC().Format(time.RFC3339))
	if stat != nil {
		msg += fmt.Sprintf(" (state %s, %d of %d nodes serving)", stat.State, stat.ServingNodes, stat.DesiredNodes)
	}
	msg += fmt.Sprintf("; still watched until %s: nodepool.active or nodepool.failed follows if it gets there", watch.Format(time.RFC3339))
	ev := p.event(m, callback.TypeTimeout, now, stat, &callback.ErrorInfo{Code: CodeTimeout, Message: msg})
	ev.Data.WatchUntil = &watch
	m.WatchUntil = watch
	m.Checks++
	return m.Tell(ev, now)
}

// event returns an event of type typ about m's pool.
func (p *Poller) event(m *tracking.Message, typ string, now time.Time, stat *ens.NodePoolStatus, info *callback.ErrorInfo) callback.Event {
	return callback.Event{Type: typ, Timestamp: now, Data: callback.EventData{
		RequestId: m.RequestId, ClusterId: m.ClusterId, Name: m.Name, NodepoolId: m.NodepoolId,
		EnsRegionId: m.EnsRegionId, Status: stat, Error: info,
	}}
}
