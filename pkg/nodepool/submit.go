package nodepool

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ensnodepool/webhook/pkg/ens"
)

// Sender puts one message on the requests queue. It returns only after the
// queue acknowledged the message (MNS SendMessage 201), with its id; any
// error means "not accepted". It must be safe for concurrent use. Every
// front door (the JSON API, ChatOps, scripts/enqueue) submits through one.
type Sender interface {
	Send(ctx context.Context, body string) (messageID string, err error)
}

// SenderFunc adapts a function to Sender.
type SenderFunc func(ctx context.Context, body string) (messageID string, err error)

// Send calls f.
func (f SenderFunc) Send(ctx context.Context, body string) (string, error) { return f(ctx, body) }

// PoolReader lists a cluster's node pools (all pages). It returns an error
// matching ens.ErrNotFound (errors.Is) when the cluster does not exist. It
// must be safe for concurrent use. *ens.Client implements it.
type PoolReader interface {
	DescribeClusterNodePools(ctx context.Context, clusterID string) ([]ens.NodePool, error)
}

// ErrNotSent is matched (errors.Is) by Submit's error when the queue did
// not acknowledge the envelope: nothing was accepted, the caller may retry.
// Any other Submit error is a failure to build the envelope.
var ErrNotSent = errors.New("nodepool: the requests queue did not accept the envelope")

// Submission is one validated request on its way to the requests queue.
type Submission struct {
	// Request is the validated request; it is not modified.
	Request *Request
	// RequestID is its RequestId (see RequestID).
	RequestID string
	// Source is the envelope Source (SourceWebhook, SourceChatOps, …).
	Source string
	// ReceivedAt is when the request entered the system.
	ReceivedAt time.Time
	// Sealer seals the password; nil if the request has none.
	Sealer *Sealer
	// Caller is the envelope Caller (a CALLERS Id); empty in simple mode.
	Caller string
	// Key signs the envelope of a Caller (EnvelopeKey of the first of the
	// caller's secrets): such an envelope is always a SignedEnvelope.
	Key []byte
}

// Submit wraps a validated request in its envelope, sealing the password,
// and puts it on q — signed with Key (a SignedEnvelope) when it names a
// Caller, a version-1 envelope in simple mode. It is the one enqueue path
// of every front door. It returns the queue's message id.
func Submit(ctx context.Context, q Sender, s Submission) (messageID string, err error) {
	env, err := NewEnvelope(s.Request, s.RequestID, s.Source, s.ReceivedAt, s.Sealer)
	if err != nil {
		return "", fmt.Errorf("nodepool: envelope: %w", err)
	}
	env.Caller = s.Caller
	var msg []byte
	if s.Caller != "" {
		msg, err = env.Sign(s.Key)
	} else {
		msg, err = env.Marshal()
	}
	if err != nil {
		return "", fmt.Errorf("nodepool: envelope: %w", err)
	}
	if messageID, err = q.Send(ctx, string(msg)); err != nil {
		return "", fmt.Errorf("%w: %w", ErrNotSent, err)
	}
	return messageID, nil
}
