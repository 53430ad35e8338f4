package deadletter

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
)

// maxExpandDepth bounds how deep BodyJSON follows JSON held in strings.
const maxExpandDepth = 8

// BodyJSON is the record's Body for reading: JSON, members in their order,
// with every string value that holds a JSON object or array — directly or
// as standard base64 (a CloudEvent's message body) — shown as that JSON,
// so the envelope a record carries reads as JSON rather than as an escaped
// string. Body was masked when the record was parsed (passwords stay
// ******, at any depth). A Body that is not JSON comes back as a JSON
// string.
func (r *Record) BodyJSON() json.RawMessage {
	var b bytes.Buffer
	if err := expand(&b, []byte(r.Body), 0); err != nil {
		s, _ := json.Marshal(r.Body)
		return s
	}
	return b.Bytes()
}

// expand writes the JSON document data to b with the JSON held in its
// strings expanded.
func expand(b *bytes.Buffer, data []byte, depth int) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := expandValue(dec, b, depth); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errTrailing
	}
	return nil
}

var errTrailing = errors.New("deadletter: trailing data after the JSON value")

func expandValue(dec *json.Decoder, b *bytes.Buffer, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		b.WriteString(t.String())
		for i := 0; dec.More(); i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			if t == '{' {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				key, _ := json.Marshal(k)
				b.Write(key)
				b.WriteByte(':')
			}
			if err := expandValue(dec, b, depth); err != nil {
				return err
			}
		}
		end, err := dec.Token()
		if err != nil {
			return err
		}
		b.WriteString(end.(json.Delim).String())
	case string:
		if held := heldJSON(t); held != nil && depth < maxExpandDepth {
			var inner bytes.Buffer
			if expand(&inner, held, depth+1) == nil {
				b.Write(inner.Bytes())
				return nil
			}
		}
		s, _ := json.Marshal(t)
		b.Write(s)
	case json.Number:
		b.WriteString(t.String())
	case bool:
		b.WriteString(strconv.FormatBool(t))
	case nil:
		b.WriteString("null")
	}
	return nil
}

// heldJSON returns the JSON object or array s holds, directly or as strict
// standard base64; nil when it holds none.
func heldJSON(s string) []byte {
	isDoc := func(b []byte) bool {
		b = bytes.TrimSpace(b)
		return len(b) > 1 && (b[0] == '{' || b[0] == '[') && json.Valid(b)
	}
	if t := strings.TrimSpace(s); isDoc([]byte(t)) {
		return []byte(t)
	}
	if len(s) < 4 || len(s)%4 != 0 {
		return nil
	}
	if raw, err := base64.StdEncoding.Strict().DecodeString(s); err == nil && isDoc(raw) {
		return raw
	}
	return nil
}
