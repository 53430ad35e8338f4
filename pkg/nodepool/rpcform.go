package nodepool

import (
	"bytes"
	"encoding/json"
	"regexp"
	"unicode/utf8"
)

// ENS's OpenAPI is RPC style: the generated SDKs send CreateClusterNodePool's
// nested parameters NodepoolInfo, ScalingGroup and KubernetesConfig as JSON
// strings in the query ("shrink" parameters; the API:
// https://www.alibabacloud.com/help/en/ens/developer-reference/api-ens-2017-11-10-createclusternodepool).
// A body copied from such a call holds
// {"NodepoolInfo":"{\"Name\":\"p1\"}",…}. Decode accepts it as the same
// request: each such string is replaced by the object it holds before the
// strict decoding, so the same rules apply, every error names the same
// JSON path as in the object form, and the decoded request (and its
// Digest) is the same.

// rpcMembers are the top-level members the RPC form sends as JSON strings.
var rpcMembers = map[string]bool{"NodepoolInfo": true, "ScalingGroup": true, "KubernetesConfig": true}

// rpcHint is how an RPC-form member that holds no JSON object is refused.
const rpcHint = "must be a JSON object, or (ENS's RPC form) a JSON string holding one"

// mayHoldRPCForm is a cheap first look: a body where no such member is
// followed by a string needs no rewriting.
var mayHoldRPCForm = regexp.MustCompile(`"(NodepoolInfo|ScalingGroup|KubernetesConfig)"\s*:\s*"`)

// unshrink returns body with each top-level RPC member whose value is a
// JSON string replaced by the JSON object the string holds; everything
// else stays byte for byte, so duplicates, unknown members and trailing
// data are still found by the strict decoding. A string that holds no
// JSON object is an error naming the member, every such member listed.
// A body that is not a JSON object is returned as it is (the strict
// decoding says what is wrong with it).
func unshrink(body []byte) ([]byte, error) {
	if !mayHoldRPCForm.Match(body) || !utf8.Valid(body) {
		return body, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return body, nil
	}
	type splice struct {
		from, to int64
		object   []byte
	}
	var (
		splices []splice
		fields  []FieldError
	)
	for dec.More() {
		tok, err := dec.Token()
		name, ok := tok.(string)
		if err != nil || !ok {
			return body, nil
		}
		afterName := dec.InputOffset()
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return body, nil
		}
		if !rpcMembers[name] || len(raw) == 0 || raw[0] != '"' {
			continue
		}
		var inner string
		if err := json.Unmarshal(raw, &inner); err != nil {
			return body, nil
		}
		obj := bytes.TrimSpace([]byte(inner))
		if len(obj) == 0 || obj[0] != '{' || !json.Valid(obj) {
			fields = append(fields, FieldError{Field: name, Message: rpcHint})
			continue
		}
		// The value starts at the first quote after the name's colon and
		// ends where the decoder stopped.
		end := dec.InputOffset()
		start := afterName + int64(bytes.IndexByte(body[afterName:end], '"'))
		splices = append(splices, splice{from: start, to: end, object: obj})
	}
	if len(fields) > 0 {
		return nil, &ValidationError{Fields: fields}
	}
	if len(splices) == 0 {
		return body, nil
	}
	out := make([]byte, 0, len(body))
	last := int64(0)
	for _, s := range splices {
		out = append(append(out, body[last:s.from]...), s.object...)
		last = s.to
	}
	return append(out, body[last:]...), nil
}
