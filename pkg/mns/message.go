package mns

import (
	"context"
	"log/slog"
	"time"

	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"

	"github.com/ensnodepool/webhook/pkg/logattr"
)

// Message is a received message.
type Message struct {
	// ID is the MNS message id.
	ID string
	// ReceiptHandle deletes the message or changes its visibility; it is valid until
	// NextVisibleTime or the next receive or visibility change, whichever comes first.
	ReceiptHandle string
	// Body is the message body exactly as sent (MNS never decodes it).
	Body string
	// BodyMD5 is MNS's MessageBodyMD5 (hex).
	BodyMD5 string
	// DequeueCount is how many times the message has been received, this time included.
	DequeueCount int
	// Priority is 1 (highest) to 16.
	Priority int
	// EnqueueTime, FirstDequeueTime and NextVisibleTime are as MNS reports them.
	EnqueueTime, FirstDequeueTime, NextVisibleTime time.Time
}

// SendResult is the outcome of sending one message.
type SendResult struct {
	// MessageID and BodyMD5 are what MNS assigned and computed.
	MessageID, BodyMD5 string
	// Err is set for a failed entry of a batch (then MessageID is empty).
	Err error
}

// Outgoing is one message of a batch send.
type Outgoing struct {
	// Body is sent verbatim; MNS bodies are XML text, so callers that carry binary or control
	// characters should base64-encode them (as FC/EventBridge triggers expect by default).
	Body string
	// Delay postpones the message's first visibility (0 = the queue's DelaySeconds).
	Delay time.Duration
	// Priority is 1 (highest) to 16; 0 means the default 8.
	Priority int
}

func msTime(ms int64) time.Time {
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

func priority(p int) int64 {
	if p < 1 || p > 16 {
		return 8
	}
	return int64(p)
}

// Send sends one message, visible after delay (0 = the queue's DelaySeconds). A failure that may
// pass is retried within Config.SendRetry.
func (q *Queue) Send(ctx context.Context, body string, delay time.Duration) (SendResult, error) {
	if err := q.c.check(ctx); err != nil {
		return SendResult{}, err
	}
	var res SendResult
	err := q.c.send.do(ctx, func(context.Context) error {
		resp, err := q.sdk().SendMessage(ali_mns.MessageSendRequest{MessageBody: body, DelaySeconds: int64(seconds(delay)), Priority: 8})
		if err != nil {
			return q.fail("Send", err)
		}
		res = SendResult{MessageID: resp.MessageId, BodyMD5: resp.MessageBodyMD5}
		return nil
	})
	return res, err
}

// maxBatchBytes is MNS's limit on the total body size of one batch send.
const maxBatchBytes = 64 * 1024

// SendBatch sends msgs in as few requests as MNS allows (≤ 16 messages and ≤ 64 KiB of bodies
// each). It returns one result per message, in order. A request that fails as a whole for a
// reason that may pass is retried within Config.SendRetry; entries that MNS refused one by one
// are not (repeating the request would send the others twice). If some entries fail, the error
// is a *BatchError (errors.Is(err, ErrPartial)) and the failed results carry Err; if nothing was
// sent, the results are nil and the error is an *Error.
func (q *Queue) SendBatch(ctx context.Context, msgs []Outgoing) ([]SendResult, error) {
	if err := q.c.check(ctx); err != nil {
		return nil, err
	}
	if len(msgs) == 0 {
		return nil, nil
	}
	results := make([]SendResult, len(msgs))
	var items []ItemError
	var fatal error
	sent := 0
	for start := 0; start < len(msgs); {
		end, size := start, 0
		for end < len(msgs) && end-start < MaxBatch && (end == start || size+len(msgs[end].Body) <= maxBatchBytes) {
			size += len(msgs[end].Body)
			end++
		}
		if fatal == nil {
			fatal = ctx.Err()
		}
		if fatal == nil {
			var entries []ali_mns.BatchMessageSendEntry
			entries, fatal = q.sendChunk(ctx, msgs[start:end])
			for i, e := range entries {
				if e.ErrorCode == "" {
					results[start+i] = SendResult{MessageID: e.MessageId, BodyMD5: e.MessageBodyMD5}
					sent++
					continue
				}
				c := codeFor(e.ErrorCode, ErrInvalid)
				results[start+i].Err = &Error{Op: "SendBatch", Queue: q.name, Code: c, MNSCode: e.ErrorCode, Err: errorString(e.ErrorMessage)}
				items = append(items, ItemError{Index: start + i, MNSCode: e.ErrorCode, Message: e.ErrorMessage, Code: c})
			}
		}
		if fatal != nil {
			for i := start; i < end; i++ {
				results[i].Err = fatal
				items = append(items, ItemError{Index: i, Code: codeOf(fatal), Message: fatal.Error()})
			}
		}
		start = end
	}
	switch {
	case sent == 0 && fatal != nil:
		return nil, fatal
	case len(items) > 0:
		return results, &BatchError{Op: "SendBatch", Queue: q.name, Items: items}
	}
	return results, nil
}

// sendChunk sends one batch request, retrying it within Config.SendRetry while it fails as a
// whole. It returns MNS's answer per entry (each with its ErrorCode when MNS refused that entry),
// or the error of a request that failed as a whole.
func (q *Queue) sendChunk(ctx context.Context, chunk []Outgoing) ([]ali_mns.BatchMessageSendEntry, error) {
	reqs := make([]ali_mns.MessageSendRequest, len(chunk))
	for i, m := range chunk {
		reqs[i] = ali_mns.MessageSendRequest{MessageBody: m.Body, DelaySeconds: int64(seconds(m.Delay)), Priority: priority(m.Priority)}
	}
	var entries []ali_mns.BatchMessageSendEntry
	err := q.c.send.do(ctx, func(context.Context) error {
		resp, err := q.sdk().BatchSendMessage(reqs...)
		if err == nil {
			entries = resp.Messages
			return nil
		}
		code, mnsCode := classify(err)
		if code == ErrPartial && len(resp.Messages) == len(chunk) {
			entries = resp.Messages // each entry says whether it was sent
			return nil
		}
		return &Error{Op: "SendBatch", Queue: q.name, Code: code, MNSCode: mnsCode, Err: err}
	})
	return entries, err
}

type errorString string

func (e errorString) Error() string { return string(e) }

func codeFor(mnsCode string, def error) error {
	if c, ok := codeMap[mnsCode]; ok {
		return c
	}
	return def
}

func codeOf(err error) error {
	if e, ok := err.(*Error); ok {
		return e.Code
	}
	return nil // context errors stay unwrapped
}

// Receive returns up to n (1–16) messages, waiting up to wait (≤ 30 s, rounded up to whole
// seconds; 0 uses the queue's PollingWaitSeconds) for the first one. An empty queue yields
// (nil, nil). With a dead-letter policy, messages received more than MaxReceiveCount times are
// moved to the dead-letter queue instead of being returned.
func (q *Queue) Receive(ctx context.Context, n int, wait time.Duration) ([]Message, error) {
	if err := q.c.check(ctx); err != nil {
		return nil, err
	}
	n = min(max(n, 1), MaxBatch)
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl)-time.Second)
	}
	wait = min(max(wait, 0), MaxWait)
	type result struct {
		resp ali_mns.BatchMessageReceiveResponse
		err  error
	}
	done := make(chan result, 1)
	go func() {
		rc := make(chan ali_mns.BatchMessageReceiveResponse, 1)
		ec := make(chan error, 1)
		var ws []int64
		if w := int64(seconds(wait)); w > 0 {
			ws = append(ws, w)
		}
		q.sdk().BatchReceiveMessage(rc, ec, int32(n), ws...)
		select {
		case r := <-rc:
			done <- result{resp: r}
		case err := <-ec:
			done <- result{err: err}
		}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if r.err != nil {
		err := q.fail("Receive", r.err)
		if codeOf(err) == ErrEmpty {
			return nil, nil
		}
		return nil, err
	}
	msgs := make([]Message, 0, len(r.resp.Messages))
	for _, m := range r.resp.Messages {
		msg := Message{
			ID: m.MessageId, ReceiptHandle: m.ReceiptHandle, Body: m.MessageBody, BodyMD5: m.MessageBodyMD5,
			DequeueCount: int(m.DequeueCount), Priority: int(m.Priority), EnqueueTime: msTime(m.EnqueueTime),
			FirstDequeueTime: msTime(m.FirstDequeueTime), NextVisibleTime: msTime(m.NextVisibleTime),
		}
		if q.dlq != nil && msg.DequeueCount > q.dlq.MaxReceiveCount {
			q.deadLetter(ctx, msg)
			continue
		}
		msgs = append(msgs, msg)
	}
	if len(msgs) == 0 {
		return nil, nil
	}
	return msgs, nil
}

// deadLetter moves msg to the dead-letter queue: send there, then delete here. If the send
// fails the message stays and is retried on its next receive.
func (q *Queue) deadLetter(ctx context.Context, msg Message) {
	log := q.c.cfg.Logger
	attrs := []any{slog.String("queue", q.name), slog.String("dlq", q.dlq.Queue), slog.String(logattr.KeyMessageID, msg.ID), slog.Int("dequeueCount", msg.DequeueCount)}
	if _, err := q.c.Queue(q.dlq.Queue).Send(ctx, msg.Body, 0); err != nil {
		log.WarnContext(ctx, "mns: dead-letter send failed; message stays", append(attrs, logattr.Error(err))...)
		return
	}
	if err := q.Delete(ctx, msg.ReceiptHandle); err != nil {
		log.WarnContext(ctx, "mns: dead-lettered message not deleted; it may be dead-lettered twice", append(attrs, logattr.Error(err))...)
		return
	}
	log.InfoContext(ctx, "mns: message dead-lettered", attrs...)
}

// receiptFail maps a delete/visibility error: MessageNotExist there means a stale handle.
func (q *Queue) receiptFail(op string, err error) error {
	err = q.fail(op, err)
	if e, ok := err.(*Error); ok && e.Code == ErrEmpty {
		e.Code = ErrStaleReceipt
	}
	return err
}

// Delete deletes a received message. A stale handle fails with ErrStaleReceipt.
func (q *Queue) Delete(ctx context.Context, receipt string) error {
	if err := q.c.check(ctx); err != nil {
		return err
	}
	if err := q.sdk().DeleteMessage(receipt); err != nil {
		return q.receiptFail("Delete", err)
	}
	return nil
}

// DeleteBatch deletes received messages, 16 per request. If some fail, the error is a
// *BatchError (errors.Is(err, ErrPartial), and ErrStaleReceipt for stale handles); the others
// are deleted.
func (q *Queue) DeleteBatch(ctx context.Context, receipts []string) error {
	if err := q.c.check(ctx); err != nil {
		return err
	}
	var items []ItemError
	for start := 0; start < len(receipts); start += MaxBatch {
		chunk := receipts[start:min(start+MaxBatch, len(receipts))]
		resp, err := q.sdk().BatchDeleteMessage(chunk...)
		if err == nil {
			continue
		}
		code, mnsCode := classify(err)
		if code != ErrPartial {
			if len(items) == 0 && start+len(chunk) == len(receipts) && start == 0 {
				return q.receiptFail("DeleteBatch", err)
			}
			for i, r := range chunk {
				items = append(items, ItemError{Index: start + i, Receipt: r, MNSCode: mnsCode, Message: err.Error(), Code: code})
			}
			continue
		}
		index := make(map[string]int, len(chunk))
		for i, r := range chunk {
			index[r] = start + i
		}
		for _, f := range resp.FailedMessages {
			c := codeFor(f.ErrorCode, ErrInvalid)
			if c == ErrEmpty || f.ErrorCode == "ReceiptHandleError" {
				c = ErrStaleReceipt
			}
			items = append(items, ItemError{Index: index[f.ReceiptHandle], Receipt: f.ReceiptHandle, MNSCode: f.ErrorCode, Message: f.ErrorMessage, Code: c})
		}
	}
	if len(items) > 0 {
		return &BatchError{Op: "DeleteBatch", Queue: q.name, Items: items}
	}
	return nil
}

// ChangeVisibility makes a received message visible again after in (rounded up to whole
// seconds, 1 s–12 h) and returns the new receipt handle; the old one becomes stale.
func (q *Queue) ChangeVisibility(ctx context.Context, receipt string, in time.Duration) (string, error) {
	if err := q.c.check(ctx); err != nil {
		return "", err
	}
	resp, err := q.sdk().ChangeMessageVisibility(receipt, int64(max(seconds(in), 1)))
	if err != nil {
		return "", q.receiptFail("ChangeVisibility", err)
	}
	return resp.ReceiptHandle, nil
}

// Attributes returns the queue's attributes and message counts.
func (q *Queue) Attributes(ctx context.Context) (Attributes, error) {
	if err := q.c.check(ctx); err != nil {
		return Attributes{}, err
	}
	a, err := q.c.manager.GetQueueAttributes(q.name)
	if err != nil {
		return Attributes{}, q.fail("Attributes", err)
	}
	sec := func(n int32) time.Duration { return time.Duration(n) * time.Second }
	out := Attributes{
		QueueAttributes: QueueAttributes{
			Delay: sec(a.DelaySeconds), MaxMessageSize: int(a.MaxMessageSize), Retention: sec(a.MessageRetentionPeriod),
			VisibilityTimeout: sec(a.VisibilityTimeout), PollingWait: sec(a.PollingWaitSeconds),
		},
		Name: a.QueueName, Active: a.ActiveMessages, Inactive: a.InactiveMessages, Delayed: a.DelayMessages,
	}
	if a.CreateTime > 0 {
		out.CreateTime = time.Unix(a.CreateTime, 0)
	}
	if a.LastModifyTime > 0 {
		out.LastModifyTime = time.Unix(a.LastModifyTime, 0)
	}
	return out, nil
}
