package fclocal

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/ensnodepool/webhook/pkg/clock"
)

// Msg is a received queue message, as the trigger needs it.
type Msg struct {
	// ID is the MNS MessageId.
	ID string
	// ReceiptHandle identifies this delivery (for Delete / ChangeVisibility).
	ReceiptHandle string
	// Body is the message body as stored.
	Body string
	// DequeueCount is how many times the message has been received,
	// including this time (MNS DequeueCount: 1 on first delivery). The
	// trigger's retry count comes from it, so retries survive restarts.
	DequeueCount int
	// EnqueueTime is when the message was sent (CloudEvent time); zero = now.
	EnqueueTime time.Time
}

// Source is the consumer side of a queue. pkg/mns's *Queue fits with a
// thin adapter converting queue.Message to Msg (ID, ReceiptHandle, Body,
// DequeueCount, EnqueueTime) and returning (nil, nil) for an empty queue.
// Methods must honour ctx; Receive long-polls up to wait.
type Source interface {
	Receive(ctx context.Context, max int, wait time.Duration) ([]Msg, error)
	Delete(ctx context.Context, receipt string) error
	ChangeVisibility(ctx context.Context, receipt string, d time.Duration) (newReceipt string, err error)
}

// QueueTriggerConfig configures a QueueTrigger: the EventBridge MNS source
// in event-streaming mode with runOptions
// (https://www.alibabacloud.com/help/en/functioncompute/fc/developer-reference/api-fc-2023-03-30-struct-eventbridgetriggerconfig).
type QueueTriggerConfig struct {
	// Function to invoke (required).
	Function string
	// Invoker runs the function (required).
	Invoker Invoker
	// Source is the queue (required).
	Source Source
	// QueueName appears in the CloudEvent subject; default "queue".
	QueueName string
	// TriggerName names the event source "MNS-<Function>-<TriggerName>";
	// default "mnsTrigger".
	TriggerName string
	// Region and AccountID fill the CloudEvent; defaults "cn-hangzhou",
	// "1234567890123456".
	Region, AccountID string
	// BatchSize is batchWindow.CountBasedWindow: the most messages per
	// invocation; default 1, at most 10000.
	BatchSize int
	// BatchWindow is batchWindow.TimeBasedWindow: after the first message,
	// how long to keep collecting up to BatchSize; 0 pushes at once.
	BatchWindow time.Duration
	// PollWait is the long-poll wait per Receive; default 2s (MNS allows
	// up to 30s; shorter stops faster).
	PollWait time.Duration
	// MaxAttempts is how many deliveries a message gets before it is
	// dead-lettered (retryStrategy MaximumRetryAttempts + 1); default 4
	// (BACKOFF_RETRY: 3 retries).
	MaxAttempts int
	// Backoff is the delay before redelivery after the attempt-th failed
	// delivery (1-based), applied by changing the message's visibility.
	// Default: 1s·2^(attempt-1), ±20% jitter, capped at 30s.
	Backoff func(attempt int) time.Duration
	// Visibility, if > 0, is set on every received message before the
	// invocation and again every third of it while the invocation runs
	// (a heartbeat, with the rotated receipt handle), so a slow batch is
	// not redelivered concurrently while a crashed one is back within
	// Visibility.
	Visibility time.Duration
	// DeadLetter receives a message that failed MaxAttempts times, with
	// the last error (deadLetterQueue); nil drops it after logging
	// (errorsTolerance ALL without a DLQ). The message is deleted from the
	// source only if DeadLetter succeeds.
	DeadLetter func(ctx context.Context, m Msg, reason error) error
	// Base64Decode is sourceMNSParameters.IsBase64Decode: decode bodies
	// from base64 before delivery (bodies that are not base64 pass as they are).
	Base64Decode bool
	// OnBatch, when set, is called after each batch (tests, metrics).
	OnBatch func(msgs []Msg, err error)
	// Logger; nil discards.
	Logger *slog.Logger
	// Now is the clock for event times; default time.Now.
	Now func() time.Time
}

// QueueTrigger pulls batches from a Source and invokes a function with a
// CloudEvents array, deleting messages only after the function succeeded.
type QueueTrigger struct{ cfg QueueTriggerConfig }

// mnsMaxReceive is the most messages one MNS BatchReceiveMessage returns.
const mnsMaxReceive = 16

// NewQueueTrigger validates cfg and applies defaults.
func NewQueueTrigger(cfg QueueTriggerConfig) (*QueueTrigger, error) {
	if cfg.Function == "" || cfg.Invoker == nil || cfg.Source == nil {
		return nil, fmt.Errorf("%w: QueueTriggerConfig needs Function, Invoker and Source", ErrConfig)
	}
	if cfg.BatchSize < 0 || cfg.BatchSize > 10000 || cfg.BatchWindow < 0 || cfg.MaxAttempts < 0 || cfg.PollWait < 0 {
		return nil, fmt.Errorf("%w: QueueTriggerConfig: BatchSize must be 1..10000 and durations non-negative", ErrConfig)
	}
	cfg.QueueName = cmp.Or(cfg.QueueName, "queue")
	cfg.TriggerName = cmp.Or(cfg.TriggerName, "mnsTrigger")
	cfg.Region = cmp.Or(cfg.Region, "cn-hangzhou")
	cfg.AccountID = cmp.Or(cfg.AccountID, "1234567890123456")
	cfg.BatchSize = cmp.Or(cfg.BatchSize, 1)
	cfg.PollWait = cmp.Or(cfg.PollWait, 2*time.Second)
	cfg.MaxAttempts = cmp.Or(cfg.MaxAttempts, 4)
	if cfg.Backoff == nil {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &QueueTrigger{cfg: cfg}, nil
}

// DefaultBackoff is 1s·2^(attempt-1) with ±20% jitter, capped at 30s.
func DefaultBackoff(attempt int) time.Duration {
	d := time.Second << min(max(attempt-1, 0), 5)
	d = min(d, 30*time.Second)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// Run processes batches until ctx ends, then returns nil. Source errors are
// logged and retried after a short pause.
func (q *QueueTrigger) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		msgs, err := q.collect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			q.cfg.Logger.WarnContext(ctx, "fclocal: queue receive failed", slog.String("queue", q.cfg.QueueName), slog.Any("error", err))
			_ = clock.Sleep(ctx, time.Second)
		}
		if len(msgs) == 0 {
			continue
		}
		err = q.deliver(ctx, msgs)
		if q.cfg.OnBatch != nil {
			q.cfg.OnBatch(msgs, err)
		}
	}
	return nil
}

// collect long-polls for the first message, then keeps receiving until
// BatchSize messages or BatchWindow has passed (either window closes the
// batch, as in EventBridge).
func (q *QueueTrigger) collect(ctx context.Context) ([]Msg, error) {
	msgs, err := q.cfg.Source.Receive(ctx, min(q.cfg.BatchSize, mnsMaxReceive), q.cfg.PollWait)
	if err != nil || len(msgs) == 0 || q.cfg.BatchWindow == 0 {
		return msgs, err
	}
	deadline := time.Now().Add(q.cfg.BatchWindow)
	for len(msgs) < q.cfg.BatchSize {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		more, err := q.cfg.Source.Receive(ctx, min(q.cfg.BatchSize-len(msgs), mnsMaxReceive), min(left, q.cfg.PollWait))
		if err != nil {
			// Keep what we have; they are invisible until delivered.
			q.cfg.Logger.WarnContext(ctx, "fclocal: queue receive failed", slog.Any("error", err))
			break
		}
		msgs = append(msgs, more...)
	}
	return msgs, nil
}

// deliver invokes the function with the batch and settles every message:
// delete on success; on failure, dead-letter the ones out of attempts and
// delay the others' redelivery.
func (q *QueueTrigger) deliver(ctx context.Context, msgs []Msg) error {
	if q.cfg.Visibility > 0 {
		for i := range msgs {
			if r, err := q.cfg.Source.ChangeVisibility(ctx, msgs[i].ReceiptHandle, q.cfg.Visibility); err == nil {
				msgs[i].ReceiptHandle = r
			}
		}
	}
	payload, err := json.Marshal(q.events(msgs))
	if err != nil {
		return err
	}
	retry := 0
	for _, m := range msgs {
		retry = max(retry, m.DequeueCount-1)
	}
	stop := q.heartbeat(ctx, msgs)
	_, invErr := q.cfg.Invoker.Do(ctx, Request{Function: q.cfg.Function, Payload: payload, RetryCount: retry})
	stop()
	// Settle even when ctx ended mid-way, so a shutdown does not strand
	// acknowledgements.
	sctx := context.WithoutCancel(ctx)
	if invErr == nil {
		for _, m := range msgs {
			if err := q.cfg.Source.Delete(sctx, m.ReceiptHandle); err != nil {
				q.cfg.Logger.WarnContext(ctx, "fclocal: delete failed; the message will be redelivered",
					slog.String("messageId", m.ID), slog.Any("error", err))
			}
		}
		return nil
	}
	if errors.Is(invErr, ErrClosed) || ctx.Err() != nil {
		return invErr // shutting down: visibility timeout redelivers later
	}
	for _, m := range msgs {
		attempt := max(m.DequeueCount, 1)
		if attempt >= q.cfg.MaxAttempts {
			q.deadLetter(sctx, m, invErr)
			continue
		}
		if _, err := q.cfg.Source.ChangeVisibility(sctx, m.ReceiptHandle, q.cfg.Backoff(attempt)); err != nil {
			q.cfg.Logger.WarnContext(ctx, "fclocal: change visibility failed", slog.String("messageId", m.ID), slog.Any("error", err))
		}
	}
	q.cfg.Logger.WarnContext(ctx, "fclocal: queue batch failed", slog.String("function", q.cfg.Function),
		slog.Int("messages", len(msgs)), slog.Any("error", invErr))
	return invErr
}

// heartbeat extends the visibility of msgs every Visibility/3 until the
// returned stop is called (which waits for it), replacing each receipt
// handle with the one the change returned.
func (q *QueueTrigger) heartbeat(ctx context.Context, msgs []Msg) (stop func()) {
	if q.cfg.Visibility <= 0 {
		return func() {}
	}
	hctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(q.cfg.Visibility / 3)
		defer tick.Stop()
		for {
			select {
			case <-hctx.Done():
				return
			case <-tick.C:
			}
			for i := range msgs {
				r, err := q.cfg.Source.ChangeVisibility(hctx, msgs[i].ReceiptHandle, q.cfg.Visibility)
				if err != nil {
					if hctx.Err() == nil {
						q.cfg.Logger.WarnContext(ctx, "fclocal: heartbeat failed; the message may be redelivered",
							slog.String("messageId", msgs[i].ID), slog.Any("error", err))
					}
					continue
				}
				msgs[i].ReceiptHandle = r
			}
		}
	}()
	return func() { cancel(); <-done }
}

func (q *QueueTrigger) deadLetter(ctx context.Context, m Msg, reason error) {
	log := q.cfg.Logger.With(slog.String("messageId", m.ID), slog.Int("attempts", m.DequeueCount), slog.Any("reason", reason))
	if q.cfg.DeadLetter == nil {
		log.ErrorContext(ctx, "fclocal: dropping message after its last attempt (no dead-letter queue)")
	} else if err := q.cfg.DeadLetter(ctx, m, reason); err != nil {
		log.ErrorContext(ctx, "fclocal: dead-letter failed; the message stays in the queue", slog.Any("error", err))
		return
	} else {
		log.WarnContext(ctx, "fclocal: message dead-lettered")
	}
	if err := q.cfg.Source.Delete(ctx, m.ReceiptHandle); err != nil {
		log.WarnContext(ctx, "fclocal: delete after dead-letter failed", slog.Any("error", err))
	}
}

// CloudEvent is one element of the event-streaming array for an MNS source
// (https://www.alibabacloud.com/help/en/functioncompute/fc/mns-queue-triggers).
type CloudEvent struct {
	ID                      string      `json:"id"`
	Source                  string      `json:"source"`
	SpecVersion             string      `json:"specversion"`
	Type                    string      `json:"type"`
	DataContentType         string      `json:"datacontenttype"`
	Subject                 string      `json:"subject"`
	Time                    string      `json:"time"`
	AliyunAccountID         string      `json:"aliyunaccountid"`
	AliyunPublishTime       string      `json:"aliyunpublishtime"`
	AliyunOriginalAccountID string      `json:"aliyunoriginalaccountid"`
	AliyunEventBusName      string      `json:"aliyuneventbusname"`
	AliyunRegionID          string      `json:"aliyunregionid"`
	AliyunPublishAddr       string      `json:"aliyunpublishaddr"`
	Data                    MessageData `json:"data"`
}

// MessageData is the CloudEvent data of an MNS message.
type MessageData struct {
	RequestID   string `json:"requestId"`
	MessageID   string `json:"messageId"`
	MessageBody string `json:"messageBody"`
}

func (q *QueueTrigger) events(msgs []Msg) []CloudEvent {
	const layout = "2006-01-02T15:04:05.000Z07:00"
	now := q.cfg.Now().UTC()
	source := "MNS-" + q.cfg.Function + "-" + q.cfg.TriggerName
	reqID := NewRequestID()
	evs := make([]CloudEvent, len(msgs))
	for i, m := range msgs {
		t := m.EnqueueTime
		if t.IsZero() {
			t = now
		}
		body := m.Body
		if q.cfg.Base64Decode {
			if b, err := base64.StdEncoding.DecodeString(body); err == nil {
				body = string(b)
			}
		}
		evs[i] = CloudEvent{
			ID:                      NewRequestID(),
			Source:                  source,
			SpecVersion:             "1.0",
			Type:                    "mns:Queue:SendMessage",
			DataContentType:         "application/json; charset=utf-8",
			Subject:                 "acs:mns:" + q.cfg.Region + ":" + q.cfg.AccountID + ":queues/" + q.cfg.QueueName,
			Time:                    t.UTC().Format(layout),
			AliyunAccountID:         q.cfg.AccountID,
			AliyunPublishTime:       now.Format(layout),
			AliyunOriginalAccountID: q.cfg.AccountID,
			AliyunEventBusName:      source,
			AliyunRegionID:          q.cfg.Region,
			AliyunPublishAddr:       "127.0.0.1",
			Data:                    MessageData{RequestID: reqID, MessageID: m.ID, MessageBody: body},
		}
	}
	return evs
}
