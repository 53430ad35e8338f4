package deadletter

import (
	"encoding/json"

	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// BodyJSON is the record's Body for reading: JSON, members in their order,
// with every string value that holds JSON — directly or as standard base64
// (a CloudEvent's message body) — shown as that JSON
// (nodepool.ExpandJSON), so the envelope a record carries reads as JSON
// rather than as an escaped string. Passwords stay masked (******), at any
// depth. A Body that is not JSON comes back as a JSON string.
func (r *Record) BodyJSON() json.RawMessage {
	if out, ok := nodepool.ExpandJSON([]byte(r.Body)); ok {
		return out
	}
	s, _ := json.Marshal(r.Body)
	return s
}
