package nodepool

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
)

// IsPasswordName reports whether a JSON member name, as decoded (escapes
// such as "Pass\u0077ord" already resolved), names a password under any
// rule this product or the APIs it feeds apply: encoding/json matches
// member names to fields with Unicode case folding (so "PASSWORD" and
// "pa\u017fsword" fill Password), JSON v2's case-insensitive matching also
// ignores '-' and '_', and the ENS RPC API flattens nested parameters into
// dotted names ("ScalingGroup.Password"). SealedPassword does not match: a
// sealed value is not a password in clear.
func IsPasswordName(name string) bool {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		name = name[i+1:]
	}
	if strings.ContainsAny(name, "-_") {
		name = strings.NewReplacer("-", "", "_", "").Replace(name)
	}
	return strings.EqualFold(name, "password")
}

// maxRedactDepth bounds the nesting RedactJSON follows, counting arrays,
// objects and JSON held in strings. Deeper bodies are not parsed, hence
// withheld.
const maxRedactDepth = 64

var errRedactDepth = errors.New("nodepool: JSON nested too deeply to redact")

// RedactJSON returns body re-encoded compactly, members in their order,
// with the value of every password member (IsPasswordName; at any depth,
// every duplicate, whatever its JSON type) replaced by Mask. A string value
// that holds JSON itself (an object, array or string, possibly as strict
// standard base64, the way queue message bodies may travel) is redacted the
// same way and re-encoded; one that looks like JSON but does not parse is
// replaced by a note of its size, since a password in it cannot be found.
//
// ok is false, and out nil, when body is not exactly one JSON value or is
// nested deeper than the redactor follows: nothing of such a body may be
// kept in clear.
func RedactJSON(body []byte) (out []byte, ok bool) {
	return RedactJSONFunc(body, IsPasswordName)
}

// RedactJSONFunc is RedactJSON with the value of every member whose name
// secret reports replaced by Mask (RedactJSON's secret is IsPasswordName):
// for tools that must not show other secrets either.
func RedactJSONFunc(body []byte, secret func(name string) bool) (out []byte, ok bool) {
	return redactor{secret: secret}.run(body)
}

// ExpandJSON is RedactJSON for a reader: every string value that holds
// JSON (directly or as strict standard base64) is written as that JSON,
// redacted, instead of as an escaped string — so an envelope inside a
// dead-letter record, or inside a CloudEvent's base64 message body, reads
// as JSON.
func ExpandJSON(body []byte) (out []byte, ok bool) {
	return redactor{secret: IsPasswordName, expand: true}.run(body)
}

// redactor masks the members whose names secret reports; with expand it
// writes the JSON a string holds as JSON.
type redactor struct {
	secret func(name string) bool
	expand bool
}

func (r redactor) run(body []byte) ([]byte, bool) {
	var b bytes.Buffer
	if err := r.doc(&b, body, 0); err != nil {
		return nil, false
	}
	return b.Bytes(), true
}

// doc writes the redacted form of one JSON document to b.
func (r redactor) doc(b *bytes.Buffer, data []byte, depth int) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := r.value(dec, b, depth); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("nodepool: trailing data after the JSON value")
	}
	return nil
}

func (r redactor) value(dec *json.Decoder, b *bytes.Buffer, depth int) error {
	if depth > maxRedactDepth {
		return errRedactDepth
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		if t != '{' && t != '[' {
			return errors.New("nodepool: unexpected " + t.String())
		}
		b.WriteByte(byte(t))
		for i := 0; dec.More(); i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			if t == '[' {
				if err := r.value(dec, b, depth+1); err != nil {
					return err
				}
				continue
			}
			k, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := k.(string)
			writeJSONString(b, key)
			b.WriteByte(':')
			if r.secret(key) {
				var skip json.RawMessage
				if err := dec.Decode(&skip); err != nil {
					return err
				}
				writeJSONString(b, Mask)
				continue
			}
			if err := r.value(dec, b, depth+1); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return err
		}
		if t == '{' {
			b.WriteByte('}')
		} else {
			b.WriteByte(']')
		}
	case string:
		if r.expand {
			if doc, _, ok := r.held(t, depth+1); ok && doc != nil {
				b.Write(doc)
				return nil
			}
		}
		writeJSONString(b, r.str(t, depth+1))
	case json.Number:
		b.WriteString(t.String())
	case bool:
		b.WriteString(strconv.FormatBool(t))
	case nil:
		b.WriteString("null")
	}
	return nil
}

// str redacts a string value that holds JSON, directly or as strict
// standard base64; other strings are returned as they are.
func (r redactor) str(s string, depth int) string {
	doc, b64, ok := r.held(s, depth)
	switch {
	case !ok:
		return s
	case doc == nil:
		return withheldNote(len(s))
	case b64:
		return base64.StdEncoding.EncodeToString(doc)
	}
	return string(doc)
}

// held returns the redacted JSON that s holds, directly or as strict
// standard base64 (b64), with ok; doc is nil when s looks like JSON but
// does not parse. ok is false when s holds no JSON.
func (r redactor) held(s string, depth int) (doc []byte, b64, ok bool) {
	data := []byte(s)
	if !looksJSON(s) {
		if len(s) < 4 || len(s)%4 != 0 {
			return nil, false, false
		}
		raw, err := base64.StdEncoding.Strict().DecodeString(s)
		if err != nil || !looksJSON(string(raw)) {
			return nil, false, false
		}
		data, b64 = raw, true
	}
	var b bytes.Buffer
	if r.doc(&b, data, depth) != nil {
		return nil, b64, true
	}
	return b.Bytes(), b64, true
}

// looksJSON reports whether s, without surrounding white space, starts
// like a JSON object, array or string.
func looksJSON(s string) bool {
	s = strings.TrimLeft(s, " \t\r\n")
	return s != "" && (s[0] == '{' || s[0] == '[' || s[0] == '"')
}

// withheldNote replaces a string that looks like JSON but cannot be parsed.
func withheldNote(n int) string {
	return "(withheld: " + strconv.Itoa(n) + " bytes that look like JSON but do not parse)"
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s) // a string always marshals
	b.Write(enc)
}
