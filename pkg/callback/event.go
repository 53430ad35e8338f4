package callback

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"

	"github.com/ensnodepool/webhook/pkg/ens"
)

// Event types, full-stop delimited as the Standard Webhooks spec suggests.
const (
	// TypeCreating: the node pool was accepted by ENS and is being created.
	TypeCreating = "nodepool.creating"
	// TypeActive: the node pool is active with all desired nodes serving.
	TypeActive = "nodepool.active"
	// TypeFailed: creation failed, or the node pool failed or vanished.
	TypeFailed = "nodepool.failed"
	// TypeTimeout: the node pool did not become active before its deadline.
	TypeTimeout = "nodepool.timeout"
)

// Event is the callback payload: {type, timestamp, data}. Its fields are
// fixed and none holds a password or other credential, so a callback cannot
// leak one whatever the caller fills in.
type Event struct {
	// Type is one of the Type* constants.
	Type string `json:"type"`
	// Timestamp is when the event happened (not when it is sent); it is
	// encoded as RFC 3339 in UTC and does not change across retries.
	Timestamp time.Time `json:"timestamp"`
	// Data describes the node pool.
	Data EventData `json:"data"`
}

// EventData is the data object of an Event. Field names follow the ENS API
// (PascalCase), as in the inbound request.
type EventData struct {
	// RequestId is the id the webhook returned when it accepted the request.
	RequestId string
	// ClusterId is the ENS edge Kubernetes cluster.
	ClusterId string
	// Name is the node pool name from the request.
	Name string
	// NodepoolId is the ENS node pool id (DescribeClusterNodePools
	// NodepoolInfo.NodepoolId); omitted when creation failed before ENS
	// assigned one.
	NodepoolId string `json:",omitempty"`
	// EnsRegionId is the ENS region of the pool (NodepoolInfo.EnsRegionId);
	// omitted when ENS has not reported it.
	EnsRegionId string `json:",omitempty"`
	// Sequence numbers the events of one request: 1 for the first, one
	// more for each later event. Events can reach a receiver out of order
	// (a retried nodepool.creating after nodepool.active); an event whose
	// Sequence is below one already processed for the RequestId is stale.
	Sequence int `json:",omitempty"`
	// WatchUntil, on nodepool.timeout, is how long the node pool is still
	// watched: a nodepool.active or nodepool.failed may follow until then.
	WatchUntil *time.Time `json:",omitempty"`
	// Status is the node pool's last observed ENS status with every
	// element ENS reports (node counts and State), if any.
	Status *ens.NodePoolStatus `json:",omitempty"`
	// Error explains nodepool.failed and nodepool.timeout events.
	Error *ErrorInfo `json:",omitempty"`
}

// ErrorInfo is a machine-readable code and a human-readable message.
type ErrorInfo struct {
	Code    string
	Message string
}

// Body returns the exact bytes sent (and signed) for ev. The encoding is
// deterministic, so an Event that travelled through a queue message yields
// the same body on every attempt.
func (ev Event) Body() ([]byte, error) {
	ev.Timestamp = ev.Timestamp.UTC()
	if w := ev.Data.WatchUntil; w != nil {
		u := w.UTC()
		ev.Data.WatchUntil = &u
	}
	return json.Marshal(ev)
}

// ParseEvent decodes a callback body (for receivers and tests).
func ParseEvent(body []byte) (Event, error) {
	var ev Event
	err := json.Unmarshal(body, &ev)
	return ev, err
}

// MessageID returns the webhook-id for one event of one node pool request:
// "msg_" followed by 32 hex digits of SHA-256 over the length-prefixed
// inputs. It is stable across retries and processes, so receivers can
// deduplicate on it, and it never contains a full stop.
func MessageID(requestID, nodepoolID, eventType string) string {
	h := sha256.New()
	for _, s := range []string{requestID, nodepoolID, eventType} {
		h.Write([]byte(strconv.Itoa(len(s))))
		h.Write([]byte{':'})
		h.Write([]byte(s))
	}
	return "msg_" + hex.EncodeToString(h.Sum(nil)[:16])
}

// MessageID returns MessageID(ev.Data.RequestId, ev.Data.NodepoolId, ev.Type).
func (ev Event) MessageID() string {
	return MessageID(ev.Data.RequestId, ev.Data.NodepoolId, ev.Type)
}
