package worker

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/ensnodepool/webhook/pkg/admission"
	"github.com/ensnodepool/webhook/pkg/caller"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// admit decodes, unseals and validates one message. It sets it.env when
// the envelope parses and it.req when the request is valid, and returns
// the zero verdict then; otherwise the message is rejected (a sealing key
// this build lacks included), or failed for a RequestId already used with
// another request.
func (w *Worker) admit(ctx context.Context, it *item) verdict {
	if it.msg.Err != nil {
		return rejected(CodeUndecodable, it.msg.Err.Error())
	}
	if !json.Valid([]byte(it.msg.Body)) {
		return rejected(CodeUndecodable, "the message body is not JSON")
	}
	env, err := nodepool.Parse([]byte(it.msg.Body))
	if err != nil {
		var uv *nodepool.UnsupportedVersionError
		switch {
		case errors.As(err, &uv):
			return rejected(CodeUnsupportedVersion, err.Error())
		case errors.Is(err, nodepool.ErrInvalid):
			w.salvage(it)
			reason := err.Error()
			if hasClearPassword(err) {
				reason += " (a queue message carries the password sealed: build it with go run ./scripts/enqueue)"
			}
			return rejected(CodeInvalidRequest, reason)
		}
		return rejected(CodeUndecodable, err.Error())
	}
	it.env = env
	it.out.RequestId, it.out.ClusterId, it.out.Name = env.RequestId, env.Request.ClusterId, env.Request.NodepoolInfo.Name
	it.callback = w.usableCallback(env.Request.Callback)
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
	var who *caller.Caller
	if w.cfg.Callers != nil {
		c, ok := w.cfg.Callers.Lookup(env.Caller)
		switch {
		case env.Caller == "":
			return rejected(CodeForbidden, "the envelope names no Caller, and CALLERS is set: every envelope names its caller (scripts/enqueue -caller)")
		case !ok:
			return rejected(CodeForbidden, "Caller "+strconv.Quote(env.Caller)+" is not in CALLERS")
		}
		who = c
	}
	// The webhook's own check, again: valid, inside the caller's policy,
	// and a RequestId that stands for this request only (the same
	// Idempotency-Key or webhook-id with another body is refused, not
	// merged into the first).
	checked, err := w.admission.Check(ctx, admission.Request{Request: req, RequestID: env.RequestId, Caller: who, Source: env.Source})
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

// salvage reads what it can from an envelope that failed the strict
// decoding, so the failure can still be reported to its callback.
func (w *Worker) salvage(it *item) {
	var loose struct {
		RequestId string
		Request   struct {
			ClusterId    string
			NodepoolInfo struct{ Name string }
			Callback     *nodepool.Callback
		}
	}
	if json.Unmarshal([]byte(it.msg.Body), &loose) != nil {
		return
	}
	it.out.RequestId, it.out.ClusterId, it.out.Name = loose.RequestId, loose.Request.ClusterId, loose.Request.NodepoolInfo.Name
	if w.cfg.Validator.ValidatePoolKey(it.out.ClusterId, it.out.Name) != nil || !validRequestID(it.out.RequestId) {
		return // not enough to identify the request to its caller
	}
	it.callback = w.usableCallback(loose.Request.Callback)
}

func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// usableCallback returns *cb if it passes the webhook's callback rules
// (URL, and the chat format of a ChatOps request), else the zero Callback.
func (w *Worker) usableCallback(cb *nodepool.Callback) nodepool.Callback {
	if cb == nil || cb.Url == "" {
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
