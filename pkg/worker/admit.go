package worker

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/ensnodepool/webhook/pkg/admission"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// admit establishes whose message it is, then decodes, unseals and
// validates it. It sets it.who once the caller is established
// (authenticate), it.env when the envelope parses and it.req when the
// request is valid, and returns the zero verdict then; otherwise the
// message is rejected (a sealing key this build lacks included), or failed
// for a RequestId already used with another request. Nothing of a message
// whose caller could not be established is told to anyone: it.callback
// stays empty and the message goes to the dead-letter queue only.
func (w *Worker) admit(ctx context.Context, it *item) verdict {
	if it.msg.Err != nil {
		return rejected(CodeUndecodable, it.msg.Err.Error())
	}
	if !json.Valid([]byte(it.msg.Body)) {
		return rejected(CodeUndecodable, "the message body is not JSON")
	}
	body, v := w.authenticate(it)
	if v.outcome != "" {
		return v
	}
	env, err := nodepool.Parse(body)
	if err != nil {
		var uv *nodepool.UnsupportedVersionError
		switch {
		case errors.As(err, &uv):
			return rejected(CodeUnsupportedVersion, err.Error())
		case errors.Is(err, nodepool.ErrInvalid):
			w.identify(it, body)
			it.callback = w.usableCallback(it, looseCallback(body))
			reason := err.Error()
			if hasClearPassword(err) {
				reason += " (a queue message carries the password sealed: build it with go run ./scripts/enqueue)"
			}
			return rejected(CodeInvalidRequest, reason)
		}
		return rejected(CodeUndecodable, err.Error())
	}
	w.identify(it, body)
	if it.who != nil && env.Caller != it.who.Id {
		it.who = nil // signed by one caller, naming another: no one's
		return rejected(DeadLetterUnauthenticated, "the signed envelope's Envelope names another Caller than the one that signed it")
	}
	it.env = env
	it.callback = w.usableCallback(it, env.Request.Callback)
	req, err := env.Open(w.cfg.Sealer)
	switch {
	case errors.Is(err, nodepool.ErrUnknownKey):
		// No retry can open it: SEAL_KEYS is read at start-up, and the
		// rotation order (docs/operations.md, "Queue automation") gives every function a new key before
		// the webhook seals with it.
		return rejected(CodeUnknownSealKey, "SealedPassword: "+err.Error()+
			": SEAL_KEYS of the functions does not hold it (add the key to every function before sealing with it)")
	case err != nil:
		return rejected(CodeInvalidRequest, "SealedPassword: "+err.Error())
	}
	// The webhook's own check, again: valid, inside the caller's policy,
	// and a RequestId that stands for this request only (the same
	// Idempotency-Key or webhook-id with another body is refused, not
	// merged into the first).
	checked, err := w.admission.Check(ctx, admission.Request{Request: req, RequestID: env.RequestId, Caller: it.who, Source: env.Source})
	var ae *admission.Error
	if errors.As(err, &ae) {
		switch ae.Code {
		case admission.CodeForbidden:
			return rejected(CodeForbidden, ae.Err.Error())
		case admission.CodeKeyReused:
			return failed(CodeIdempotencyKeyReused, "RequestId "+env.RequestId+" was already used for a different request "+
				"(the same Idempotency-Key or webhook-id with another body); send a new key for a new or corrected request")
		}
		return rejected(CodeInvalidRequest, ae.Err.Error())
	}
	if err != nil {
		return rejected(CodeInvalidRequest, err.Error())
	}
	w.admission.Remember(checked)
	it.req = req
	return verdict{}
}

// authenticate establishes the caller a message is for and returns the
// version-1 envelope to read. In simple mode that is the message itself
// (whoever may send to the queue acts for the one caller there is), and a
// signed envelope is refused (it names a caller no CALLERS defines). With
// CALLERS, only a SignedEnvelope whose Caller is in CALLERS and whose
// signature verifies with one of that caller's secrets passes; it.who is
// then that caller. Every refusal leaves it.callback empty: a message no
// caller vouches for gets a dead letter, never an event.
func (w *Worker) authenticate(it *item) ([]byte, verdict) {
	body := []byte(it.msg.Body)
	version, err := nodepool.MessageVersion(body)
	if w.cfg.Callers == nil {
		if err == nil && version == nodepool.VersionSigned {
			w.identify(it, body)
			return nil, rejected(CodeForbidden, "a signed envelope names a Caller, and CALLERS is not set")
		}
		return body, verdict{}
	}
	if err == nil && version != nodepool.VersionSigned {
		w.identify(it, body)
		if version != nodepool.Version {
			return nil, rejected(CodeUnsupportedVersion, (&nodepool.UnsupportedVersionError{Version: version}).Error()+
				"; with CALLERS every envelope is a signed version "+strconv.Itoa(nodepool.VersionSigned))
		}
		if looseCaller(body) == "" {
			return nil, rejected(CodeForbidden, "the envelope names no Caller, and CALLERS is set: every envelope is signed by its caller "+
				"(scripts/enqueue -caller)")
		}
		return nil, rejected(DeadLetterUnauthenticated, "a version-1 envelope is not signed: with CALLERS, an envelope naming a caller is a "+
			"signed version "+strconv.Itoa(nodepool.VersionSigned)+" (scripts/enqueue -caller with CALLER_SECRET)")
	}
	s, err := nodepool.ParseSigned(body)
	if err != nil {
		return nil, rejected(DeadLetterUnauthenticated, "not a readable signed envelope: "+err.Error())
	}
	inner := []byte(s.Envelope)
	c, ok := w.cfg.Callers.Lookup(s.Caller)
	if !ok {
		w.identify(it, inner)
		return nil, rejected(CodeForbidden, "Caller "+strconv.Quote(s.Caller)+" is not in CALLERS")
	}
	if err := s.Verify(c.EnvelopeKeys()); err != nil {
		w.identify(it, inner)
		return nil, rejected(DeadLetterUnauthenticated, "the signature does not verify with any of the Secrets of caller "+
			strconv.Quote(s.Caller)+": "+err.Error())
	}
	it.who = c
	return inner, verdict{}
}

// hasClearPassword reports whether a Parse error is about a clear password.
func hasClearPassword(err error) bool {
	var ve *nodepool.ValidationError
	if errors.As(err, &ve) {
		for _, f := range ve.Fields {
			if f.Field == "Request.ScalingGroup.Password" {
				return true
			}
		}
	}
	return false
}

// identify fills in the RequestId, ClusterId and Name of it from an
// envelope (as far as it reads), each only when it is well-formed: a
// producer's ids reach a record (dead letter, audit, log) only after this
// check, whoever produced them.
func (w *Worker) identify(it *item, body []byte) {
	var loose struct {
		RequestId string
		Request   struct {
			ClusterId    string
			NodepoolInfo struct{ Name string }
		}
	}
	if json.Unmarshal(body, &loose) != nil {
		return
	}
	it.out.RequestId, it.out.ClusterId, it.out.Name = "", "", ""
	if nodepool.ValidRequestID(loose.RequestId) {
		it.out.RequestId = loose.RequestId
	}
	if nodepool.ValidPoolKey(loose.Request.ClusterId, loose.Request.NodepoolInfo.Name) {
		it.out.ClusterId, it.out.Name = loose.Request.ClusterId, loose.Request.NodepoolInfo.Name
	}
}

// looseCallback reads the Callback of an envelope that failed the strict
// decoding, so the failure can still be reported to its callback.
func looseCallback(body []byte) *nodepool.Callback {
	var loose struct {
		Request struct{ Callback *nodepool.Callback }
	}
	if json.Unmarshal(body, &loose) != nil {
		return nil
	}
	return loose.Request.Callback
}

// looseCaller reads the Caller an envelope claims, as written.
func looseCaller(body []byte) string {
	var loose struct{ Caller any }
	if json.Unmarshal(body, &loose) != nil || loose.Caller == nil {
		return ""
	}
	if s, ok := loose.Caller.(string); ok {
		return s
	}
	return "?"
}

// usableCallback returns *cb if the failure or progress of it may be
// told there, else the zero Callback: it passes the webhook's callback
// rules (URL, and the chat format of a ChatOps request), the request is
// identified (RequestId, ClusterId and Name), and, with CALLERS, the
// caller is established and its CallbackHosts allow the URL.
func (w *Worker) usableCallback(it *item, cb *nodepool.Callback) nodepool.Callback {
	if cb == nil || cb.Url == "" || it.out.RequestId == "" || it.out.ClusterId == "" || it.out.Name == "" {
		return nodepool.Callback{}
	}
	if w.cfg.Callers != nil && (it.who == nil || (cb.Format == "" && !it.who.AllowsCallback(cb.Url))) {
		return nodepool.Callback{}
	}
	err := w.cfg.Validator.Validate(&nodepool.Request{Callback: cb})
	var ve *nodepool.ValidationError
	if !errors.As(err, &ve) {
		return *cb
	}
	for _, f := range ve.Fields {
		if strings.HasPrefix(f.Field, "Callback") {
			return nodepool.Callback{}
		}
	}
	return *cb
}
