package intake

import (
	"log/slog"
	"net/http"

	"github.com/ensnodepool/webhook/pkg/admission"
	"github.com/ensnodepool/webhook/pkg/caller"
	"github.com/ensnodepool/webhook/pkg/httpjson"
	"github.com/ensnodepool/webhook/pkg/logattr"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// dryRunAnswer is the 200 body of a dry run (DryRunResult in
// api/openapi.yaml).
type dryRunAnswer struct {
	Outcome     string                `json:"Outcome"`
	RequestId   string                `json:"RequestId"`
	ClusterId   string                `json:"ClusterId"`
	Name        string                `json:"Name"`
	NodepoolId  string                `json:"NodepoolId,omitempty"`
	Differences []nodepool.Difference `json:"Differences,omitempty"`
}

// dryRunParam reads the dryRun query parameter: absent or "false" is a
// create, "true" a dry run, anything else invalid.
func dryRunParam(r *http.Request) (bool, error) {
	q := r.URL.Query()
	if _, ok := q["dryRun"]; !ok {
		return false, nil
	}
	switch q.Get("dryRun") {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, &Error{Code: CodeInvalid, Message: "the request is invalid",
		Fields: []nodepool.FieldError{{Field: "dryRun", Message: "must be true or false"}}}
}

// dryRun answers what the worker would do with the request now
// (admission.DryRun); nothing is queued, remembered or created.
func (h *Handler) dryRun(w http.ResponseWriter, r *http.Request, s sender, body []byte) {
	req, err := nodepool.Decode(body)
	res, err := h.admission.DryRun(r.Context(), admission.Request{
		Request: req, Err: err, RequestID: s.requestID, Caller: s.who,
		Source: h.cfg.Source, Channel: caller.SourceAPI, ReceivedAt: h.cfg.Now(),
	})
	if err != nil {
		h.fail(w, r, err, s.requestID)
		return
	}
	a := dryRunAnswer{Outcome: res.Outcome, RequestId: s.requestID, ClusterId: req.ClusterId, Name: req.NodepoolInfo.Name,
		Differences: res.Differences}
	if res.Pool != nil {
		a.NodepoolId = res.Pool.NodepoolInfo.NodepoolId
	}
	h.cfg.Logger.LogAttrs(r.Context(), slog.LevelInfo, "intake: dry run",
		slog.String(logattr.KeyRequestID, s.requestID), slog.String(logattr.KeyClusterID, a.ClusterId),
		slog.String(logattr.KeyName, a.Name), slog.String("outcome", a.Outcome))
	httpjson.Write(w, http.StatusOK, a)
}
