package nodepool

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// maxDepth bounds nesting while checking a body; the models are 4 deep.
const maxDepth = 16

// Decode parses a request body strictly: one JSON object, valid UTF-8, no
// unknown or duplicate members (names match case-sensitively), no trailing
// data, every value of the declared JSON type, integers within int32. A
// null member counts as absent (the required rules then speak); a null
// array element or top-level null is an error.
//
// ENS's RPC form, where NodepoolInfo, ScalingGroup and KubernetesConfig
// are JSON strings holding the objects (as the SDKs send them), is the
// same request: the strings are read as the objects they hold (rpcform.go).
//
// Errors are *ValidationError with one FieldError naming the JSON path where
// decoding stopped (e.g. "ScalingGroup.DataDisks[1].Size"; "" for the body
// itself) — or, for RPC-form members whose strings hold no JSON object, one
// per such member. Decode does not apply the validation rules; see Validator.
// Callback.Format and Callback.ExpiresAt are rejected as unknown: they are
// set only by the chatops intake (and carried by envelopes).
func Decode(body []byte) (*Request, error) {
	body, err := unshrink(body)
	if err != nil {
		return nil, err
	}
	var r Request
	if err := decodeStrict(body, &r); err != nil {
		return nil, err
	}
	if r.ScalingGroup.DesiredSize == 0 && statesZeroDesiredSize(body) {
		// Absent means ENS's default; a stated 0 is a mistake, not that.
		return nil, fieldErr("ScalingGroup.DesiredSize", "must be at least 1 (leave it out for ENS's default)")
	}
	// Callback.Format and Callback.ExpiresAt route results to a chat
	// conversation; only the chatops intake sets them, so the JSON API
	// keeps treating them as unknown.
	if cb := r.Callback; cb != nil {
		if cb.Format != "" {
			return nil, fieldErr("Callback.Format", "is not a known field")
		}
		if !cb.ExpiresAt.IsZero() {
			return nil, fieldErr("Callback.ExpiresAt", "is not a known field")
		}
	}
	return &r, nil
}

// statesZeroDesiredSize reports whether a checked body states
// "DesiredSize": 0 (which the int32 field cannot tell from absent).
func statesZeroDesiredSize(body []byte) bool {
	var probe struct{ ScalingGroup struct{ DesiredSize *int32 } }
	return json.Unmarshal(body, &probe) == nil && probe.ScalingGroup.DesiredSize != nil
}

// decodeStrict checks body against the shape of *dst with a token walk that
// tracks the JSON path, then unmarshals it (which cannot fail any more for a
// checked body).
func decodeStrict(body []byte, dst any) error {
	if !utf8.Valid(body) {
		return fieldErr("", "must be valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	w := walker{dec: dec, segs: make([]string, 0, 8)}
	t := reflect.TypeOf(dst).Elem()
	if err := w.value(t, true); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fieldErr("", "must contain a single JSON object and nothing after it")
	}
	if err := json.Unmarshal(body, dst); err != nil {
		// Unreachable for bodies the walk accepted; keep a safe answer.
		return fieldErr("", "is not a valid request: "+err.Error())
	}
	return nil
}

// walker checks tokens against a type. The current JSON path is kept as a
// stack of segments and only rendered into a string on error.
type walker struct {
	dec  *json.Decoder
	segs []string // member names and "[i]"
}

var timeType = reflect.TypeOf(time.Time{})

func (w *walker) push(seg string) { w.segs = append(w.segs, seg) }
func (w *walker) pop()            { w.segs = w.segs[:len(w.segs)-1] }

// path renders the current JSON path, e.g. "ScalingGroup.DataDisks[1].Size".
func (w *walker) path() string {
	var b strings.Builder
	for i, s := range w.segs {
		if i > 0 && (s == "" || s[0] != '[') {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

func (w *walker) fail(msg string) error { return fieldErr(w.path(), msg) }

// tokenErr describes a tokenizer error at the current path.
func (w *walker) tokenErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return w.fail("is truncated: the JSON ends early")
	}
	return w.fail("is not valid JSON")
}

// value consumes one JSON value that must fit type t.
func (w *walker) value(t reflect.Type, top bool) error {
	if len(w.segs) > maxDepth {
		return w.fail("is nested too deeply")
	}
	tok, err := w.dec.Token()
	if err != nil {
		return w.tokenErr(err)
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if tok == nil {
		if top {
			return w.fail("must be a JSON object")
		}
		return errNull
	}
	switch {
	case t == timeType:
		s, ok := tok.(string)
		if !ok {
			return w.fail("must be an RFC 3339 time string")
		}
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			return w.fail("must be an RFC 3339 time string")
		}
		return nil
	case t.Kind() == reflect.Struct:
		if d, ok := tok.(json.Delim); !ok || d != '{' {
			return w.fail("must be a JSON object")
		}
		return w.object(t)
	case t.Kind() == reflect.Slice:
		if d, ok := tok.(json.Delim); !ok || d != '[' {
			return w.fail("must be a JSON array")
		}
		for i := 0; w.dec.More(); i++ {
			w.push("[" + strconv.Itoa(i) + "]")
			if err := w.value(t.Elem(), false); err != nil {
				if err == errNull {
					err = w.fail("must not be null")
				}
				return err
			}
			w.pop()
		}
		return w.end()
	case t.Kind() == reflect.String:
		if _, ok := tok.(string); !ok {
			return w.fail("must be a string")
		}
		return nil
	case t.Kind() == reflect.Int32, t.Kind() == reflect.Int:
		n, ok := tok.(json.Number)
		if !ok {
			return w.fail("must be an integer")
		}
		bits := 32
		if t.Kind() == reflect.Int {
			bits = 64
		}
		if _, err := strconv.ParseInt(string(n), 10, bits); err != nil {
			var ne *strconv.NumError
			if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
				return w.fail("is out of range for a " + strconv.Itoa(bits) + "-bit integer")
			}
			return w.fail("must be an integer")
		}
		return nil
	default:
		return w.fail("has an unsupported type")
	}
}

// object consumes the members of an object (after '{') for struct t.
func (w *walker) object(t reflect.Type) error {
	fields := fieldsOf(t)
	var seen uint64
	for w.dec.More() {
		tok, err := w.dec.Token()
		if err != nil {
			return w.tokenErr(err)
		}
		name, ok := tok.(string)
		if !ok {
			return w.fail("is not valid JSON")
		}
		w.push(name)
		i, ok := fields.index[name]
		if !ok {
			return w.fail("is not a known field")
		}
		if seen&(1<<i) != 0 {
			return w.fail("appears more than once")
		}
		seen |= 1 << i
		if err := w.value(fields.types[i], false); err != nil && err != errNull {
			return err // a null member counts as absent
		}
		w.pop()
	}
	return w.end()
}

// end consumes the closing delimiter of an array or object.
func (w *walker) end() error {
	if _, err := w.dec.Token(); err != nil {
		return w.tokenErr(err)
	}
	return nil
}

// errNull reports a JSON null to the caller of value, which decides.
var errNull = errors.New("null")

// structFields maps the JSON member names of a struct to field types.
type structFields struct {
	index map[string]int
	types []reflect.Type
}

var fieldCache sync.Map // reflect.Type → *structFields

// fieldsOf returns the JSON fields of struct t (at most 64), cached.
func fieldsOf(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	f := &structFields{index: map[string]int{}}
	for i := range t.NumField() {
		sf := t.Field(i)
		if name := jsonName(sf); sf.IsExported() && name != "-" {
			f.index[name] = len(f.types)
			f.types = append(f.types, sf.Type)
		}
	}
	if len(f.types) > 64 {
		panic("nodepool: struct with more than 64 JSON fields: " + t.String())
	}
	fieldCache.Store(t, f)
	return f
}

// jsonName is the JSON member name of f ("-" if it has none).
func jsonName(f reflect.StructField) string {
	tag := f.Tag.Get("json")
	name, _, _ := strings.Cut(tag, ",")
	switch name {
	case "-":
		return "-"
	case "":
		return f.Name
	}
	return name
}

func fieldErr(path, msg string) *ValidationError {
	return &ValidationError{Fields: []FieldError{{Field: path, Message: msg}}}
}
