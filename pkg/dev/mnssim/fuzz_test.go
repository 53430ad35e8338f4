package mnssim

import (
	"testing"
)

// FuzzDecode feeds arbitrary bytes to every request-body decoder and the receipt-handle parser:
// none may panic, and whatever they accept must satisfy the documented limits.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`<Message><MessageBody>hello</MessageBody><DelaySeconds>0</DelaySeconds><Priority>8</Priority></Message>`,
		`<?xml version="1.0" encoding="UTF-8"?><Messages xmlns="http://mns.aliyuncs.com/doc/v1/"><Message><MessageBody>a</MessageBody></Message></Messages>`,
		`<ReceiptHandles><ReceiptHandle>0000000000000001000000000000002A-00000000000000FF</ReceiptHandle></ReceiptHandles>`,
		`<Queue><VisibilityTimeout>60</VisibilityTimeout><DlqPolicy><Enabled>true</Enabled><DeadLetterTargetQueue>d</DeadLetterTargetQueue><MaxReceiveCount>3</MaxReceiveCount></DlqPolicy></Queue>`,
		`<Message><MessageBody>x</Mess`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if msgs, batch, err := decodeSend(body); err == nil {
			if len(msgs) == 0 || len(msgs) > 16 || (!batch && len(msgs) != 1) {
				t.Fatalf("decodeSend accepted %d messages (batch %v)", len(msgs), batch)
			}
			for _, m := range msgs {
				if _, e := newMessage(defaultAttrs(), m); e == nil && len(*m.MessageBody) > 65536 {
					t.Fatal("oversize body accepted")
				}
			}
		}
		if hs, err := decodeReceipts(body); err == nil && (len(hs) == 0 || len(hs) > 16) {
			t.Fatalf("decodeReceipts accepted %d handles", len(hs))
		}
		if x, err := decodeQueue(body); err == nil {
			a := defaultAttrs()
			if e := applyQueueXML(&a, x, "self"); e == nil {
				if a.VisibilityTimeout < 1 || a.VisibilityTimeout > 43200 || a.PollingWaitSeconds > 30 ||
					(a.DeadLetter != nil && (a.DeadLetter.TargetQueue == "self" || a.DeadLetter.MaxReceiveCount < 1)) {
					t.Fatalf("invalid attributes accepted: %+v", a)
				}
			}
		}
		if _, _, tok, ok := parseReceipt(string(body)); ok && tok == 0 {
			t.Fatal("zero token accepted")
		}
	})
}
