package fcadapter

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/events"
)

// Timer is a decoded FC timer trigger event (events.TimerEvent:
// {"triggerTime","triggerName","payload"}, https://help.aliyun.com/document_detail/2513615.html).
type Timer struct {
	// Time is triggerTime, the scheduled firing time (UTC).
	Time time.Time
	// Name is triggerName.
	Name string
	// Payload is the trigger's configured payload ("" when none).
	Payload string
}

// DecodeTimer decodes a timer trigger event. triggerTime is required and must
// be RFC 3339; anything else wraps ErrNotTimerEvent or ErrMalformedEvent.
func DecodeTimer(payload []byte) (Timer, error) {
	var ev events.TimerEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return Timer{}, fmt.Errorf("%w: %v", ErrMalformedEvent, err)
	}
	if ev.TriggerTime == nil || *ev.TriggerTime == "" {
		return Timer{}, fmt.Errorf("%w: triggerTime is missing", ErrNotTimerEvent)
	}
	t, err := time.Parse(time.RFC3339Nano, *ev.TriggerTime)
	if err != nil {
		return Timer{}, fmt.Errorf("%w: triggerTime: %v", ErrMalformedEvent, err)
	}
	return Timer{Time: t.UTC(), Name: deref(ev.TriggerName), Payload: deref(ev.Payload)}, nil
}
