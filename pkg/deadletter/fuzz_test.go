package deadletter

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ensnodepool/webhook/pkg/mns"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// FuzzParse: any dead-letter body parses without panicking; what a redrive
// would send is an envelope the worker reads; and a password member in a
// trigger dead letter (CloudEvent around an envelope) never shows.
func FuzzParse(f *testing.F) {
	f.Add(`{"Version":1,"Kind":"request","Code":"Conflict","Body":"{\"Version\":1}"}`, "Sup3r-Secret!")
	f.Add(`{"Version":1,"Kind":"callback","Reason":"gone","Delivery":{"MessageID":"msg_1","URL":"https://x","Event":{"type":"nodepool.active","data":{"RequestId":"r","ClusterId":"c","Name":"n"}}}}`, "abcdefgh1")
	f.Add(`{"specversion":"1.0","data":{"messageBody":"eyJWZXJzaW9uIjoxfQ=="}}`, "Pa55word")
	f.Add(`{"Version":1,"Kind":"tracking","Body":"{\"Caller\":\"x\"}"}`, "zzzzzzzz9")
	f.Add(`[1,2]`, "")
	f.Fuzz(func(t *testing.T, body, pw string) {
		r := Parse(mns.Message{ID: "X", Body: body})
		if r.Kind == "" {
			t.Fatal("no Kind")
		}
		if r.payload != nil {
			if _, err := nodepool.Parse(r.payload); err != nil {
				t.Fatalf("redrive payload is not an envelope: %v", err)
			}
		}
		if len(pw) < 8 || strings.ContainsAny(pw, "\"\\") || strings.Contains(nodepool.Mask, pw) {
			return
		}
		for _, c := range pw {
			if c < 0x21 || c > 0x7e {
				return
			}
		}
		env := `{"Version":1,"RequestId":"req_f","ReceivedAt":"2026-01-01T00:00:00Z","Source":"queue","Request":{"ClusterId":"eck-a","NodepoolInfo":{"Name":"n"},"ScalingGroup":{"Password":"` + pw + `"}}}`
		ce, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": "1", "data": map[string]string{"messageId": "m", "messageBody": env}})
		if strings.Contains(strings.Replace(string(ce), pw, "", 1), pw) {
			return // pw also spells something else in the event
		}
		if r := Parse(mns.Message{ID: "X", Body: string(ce)}); strings.Contains(r.Body, pw) {
			t.Fatalf("password shown: %s", r.Body)
		}
	})
}
