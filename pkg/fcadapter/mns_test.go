package fcadapter

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
)

// decoded is the golden view of a QueueMessage (Err as text).
type decoded struct {
	Index                         int
	MessageID, RequestID, EventID string
	Body                          string
	Base64Decoded                 bool
	Err                           string `json:",omitempty"`
}

func view(msgs []QueueMessage) []decoded {
	out := make([]decoded, len(msgs))
	for i, m := range msgs {
		out[i] = decoded{Index: m.Index, MessageID: m.MessageID, RequestID: m.RequestID, EventID: m.EventID,
			Body: m.Body, Base64Decoded: m.Base64Decoded}
		if m.Err != nil {
			out[i].Err = m.Err.Error()
		}
	}
	return out
}

func TestDecodeGolden(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"mns-single", "mns-array", "mns-strings", "mns-rawdata", "mns-base64", "mns-partial"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			msgs, err := Decode(mustRead(t, name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				if m.Err != nil && !errors.Is(m.Err, ErrUndecodable) {
					t.Errorf("element %d: error %v does not wrap ErrUndecodable", m.Index, m.Err)
				}
				if len(m.Raw) == 0 {
					t.Errorf("element %d: Raw is empty", m.Index)
				}
			}
			golden(t, name+".golden.json", view(msgs))
		})
	}
}

func TestDecodeShapes(t *testing.T) {
	t.Parallel()
	env := `{"Version":1}`
	b64 := base64.StdEncoding.EncodeToString([]byte(env))
	tests := []struct {
		name      string
		payload   string
		tryBase64 bool
		wantErr   error // whole-payload error
		wantBody  []string
		wantBad   []int // indexes with Err
	}{
		{"single object", `{"specversion":"1.0","data":{"messageId":"m","messageBody":"x"}}`, true, nil, []string{"x"}, nil},
		{"empty array", `[]`, true, nil, []string{}, nil},
		{"raw data", `[{"messageId":"m","messageBody":"x"}]`, true, nil, []string{"x"}, nil},
		{"string of raw data", `["{\"messageId\":\"m\",\"messageBody\":\"x\"}"]`, true, nil, []string{"x"}, nil},
		{"base64 JSON decoded", `[{"messageBody":"` + b64 + `"}]`, true, nil, []string{env}, nil},
		{"base64 off", `[{"messageBody":"` + b64 + `"}]`, false, nil, []string{b64}, nil},
		{"base64 of non-JSON kept", `[{"messageBody":"aGVsbG8="}]`, true, nil, []string{"aGVsbG8="}, nil},
		{"JSON body never decoded", `[{"messageBody":"1234"}]`, true, nil, []string{"1234"}, nil},
		{"empty body", `[{"messageBody":""}]`, true, nil, []string{""}, nil},
		{"non-strict base64 kept", `[{"messageBody":"e30"}]`, true, nil, []string{"e30"}, nil},
		{"null element", `[null]`, true, nil, []string{""}, []int{0}},
		{"number element", `[1,{"messageBody":"x"}]`, true, nil, []string{"", "x"}, []int{0}},
		{"cloud event data null", `[{"specversion":"1.0","data":null}]`, true, nil, []string{""}, []int{0}},
		{"body not a string", `[{"messageBody":{"a":1}}]`, true, nil, []string{""}, []int{0}},
		{"unknown object", `[{"hello":"world"}]`, true, nil, []string{""}, []int{0}},
		{"string not json", `["nope"]`, true, nil, []string{""}, []int{0}},
		{"not json", `{nope`, true, ErrMalformedEvent, nil, nil},
		{"number", `42`, true, ErrMalformedEvent, nil, nil},
		{"empty", ``, true, ErrMalformedEvent, nil, nil},
		{"trailing data", `[] []`, true, ErrMalformedEvent, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msgs, err := Decoder{TryBase64: tt.tryBase64}.Decode([]byte(tt.payload))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || msgs != nil {
					t.Fatalf("got %v, %v; want %v", msgs, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(msgs), len(tt.wantBody); got != want {
				t.Fatalf("len: got %d, want %d", got, want)
			}
			bad := map[int]bool{}
			for _, i := range tt.wantBad {
				bad[i] = true
			}
			for i, m := range msgs {
				if got, want := m.Body, tt.wantBody[i]; got != want {
					t.Errorf("body %d: got %q, want %q", i, got, want)
				}
				if got, want := m.Err != nil, bad[i]; got != want {
					t.Errorf("err %d: got %v, want error=%v", i, m.Err, want)
				}
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, name := range []string{"mns-single.json", "mns-array.json", "mns-strings.json", "mns-rawdata.json", "mns-base64.json", "mns-partial.json"} {
		f.Add(mustRead(f, name), true)
	}
	f.Add([]byte(`[""]`), false)
	f.Fuzz(func(t *testing.T, payload []byte, tryBase64 bool) {
		msgs, err := Decoder{TryBase64: tryBase64}.Decode(payload)
		if err != nil {
			if !errors.Is(err, ErrMalformedEvent) || msgs != nil {
				t.Fatalf("bad whole-payload error: %v (%d msgs)", err, len(msgs))
			}
			if json.Valid(payload) && (payload[0] == '[' || payload[0] == '{') {
				// objects and arrays are always accepted element-wise
				var arr []json.RawMessage
				if json.Unmarshal(payload, &arr) == nil {
					t.Fatalf("valid array rejected: %v", err)
				}
			}
			return
		}
		for i, m := range msgs {
			if m.Index != i || len(m.Raw) == 0 {
				t.Fatalf("element %d: index %d, raw %q", i, m.Index, m.Raw)
			}
			if m.Err != nil && !errors.Is(m.Err, ErrUndecodable) {
				t.Fatalf("element %d: %v", i, m.Err)
			}
			if m.Err == nil && m.Base64Decoded && !json.Valid([]byte(m.Body)) {
				t.Fatalf("element %d: base64-decoded body is not JSON", i)
			}
		}
	})
}
