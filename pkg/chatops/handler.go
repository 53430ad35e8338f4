package chatops

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ensnodepool/webhook/pkg/admission"
	"github.com/ensnodepool/webhook/pkg/caller"
	"github.com/ensnodepool/webhook/pkg/chatreply"
	"github.com/ensnodepool/webhook/pkg/ens"
	"github.com/ensnodepool/webhook/pkg/httpjson"
	"github.com/ensnodepool/webhook/pkg/logattr"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// Replier posts an immediate Feishu reply (the acknowledgement, help and
// errors: Feishu ignores the HTTP answer's body). FeishuReplier adapts a
// FeishuClient.
type Replier interface {
	Reply(ctx context.Context, messageID, text string) error
}

// FeishuReplier replies through a FeishuClient with a guarded client.
type FeishuReplier struct {
	Client *chatreply.FeishuClient
	HTTP   *http.Client
}

// Reply implements Replier.
func (f FeishuReplier) Reply(ctx context.Context, messageID, text string) error {
	return f.Client.Reply(ctx, f.HTTP, messageID, text)
}

// Config configures a Handler. A platform whose verifier is nil answers
// 404 on its route.
type Config struct {
	// Slack, DingTalk and Feishu authenticate each platform's requests.
	Slack    Verifier
	DingTalk Verifier
	Feishu   *FeishuVerifier
	// FeishuClient builds reply URLs for results; FeishuReplier posts the
	// immediate answers. Both required with Feishu.
	FeishuClient  *chatreply.FeishuClient
	FeishuReplier Replier
	// Presets are the named request templates.
	Presets Presets
	// Callers, when set (CALLERS), maps each platform identity to the
	// caller whose Chat list names it: only mapped users may create or
	// read, within that caller's policy; anyone else gets a polite
	// refusal and nothing is queued. Nil is simple mode (everyone who can
	// reach the command may use it).
	Callers *caller.Set
	// Validator is the JSON API's validator; default
	// nodepool.NewValidator(nodepool.ValidationConfig{}).
	Validator *nodepool.Validator
	// Queue is the requests queue. Required.
	Queue nodepool.Sender
	// Keys remembers what each RequestId stands for (pkg/admission); give
	// the front doors of one instance the same. Default: the Handler's own
	// memory.
	Keys admission.Keys
	// Pools serves `nodepool status` and `nodepool create … dry-run`.
	// Required.
	Pools nodepool.PoolReader
	// SlackHosts, DingTalkHosts and ExtraHosts restrict where results may
	// go, as in RenderConfig: a response_url or sessionWebhook elsewhere
	// is not used (the command still runs; the user is told).
	SlackHosts, DingTalkHosts, ExtraHosts []string
	// Budget bounds the work before answering (queue send, status read,
	// Feishu reply); default 2 s, inside Slack's and Feishu's 3 s.
	Budget time.Duration
	// MaxBody is the body limit in bytes; default 64 KiB.
	MaxBody int64
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives structured logs (never secrets or message texts);
	// nil discards.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Validator == nil {
		c.Validator = nodepool.NewValidator(nodepool.ValidationConfig{})
	}
	if len(c.SlackHosts) == 0 {
		c.SlackHosts = chatreply.DefaultSlackHosts
	}
	if len(c.DingTalkHosts) == 0 {
		c.DingTalkHosts = chatreply.DefaultDingTalkHosts
	}
	c.SlackHosts = append(slices.Clone(c.SlackHosts), c.ExtraHosts...)
	c.DingTalkHosts = append(slices.Clone(c.DingTalkHosts), c.ExtraHosts...)
	c.Budget = cmp.Or(c.Budget, 2*time.Second)
	c.MaxBody = cmp.Or(c.MaxBody, 64<<10)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Queue == nil || c.Pools == nil:
		return fmt.Errorf("%w: Queue and Pools are required", ErrConfig)
	case c.Feishu != nil && (c.FeishuClient == nil || c.FeishuReplier == nil):
		return fmt.Errorf("%w: Feishu needs FeishuClient and FeishuReplier (FEISHU_APP_ID, FEISHU_APP_SECRET)", ErrConfig)
	case c.Budget < 0 || c.MaxBody < 0:
		return fmt.Errorf("%w: Budget and MaxBody must not be negative", ErrConfig)
	}
	return nil
}

// Handler serves the ChatOps routes:
//
//	POST /v1/chatops/slack     slash command (form); answers the message JSON
//	POST /v1/chatops/dingtalk  outgoing robot (JSON); answers a markdown message
//	POST /v1/chatops/feishu    event subscription (JSON, maybe encrypted); answers the challenge or {}
//
// Safe for concurrent use.
type Handler struct {
	cfg       Config
	admission *admission.Admission
	mux       *http.ServeMux
}

// New builds a Handler.
func New(cfg Config) (*Handler, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	adm, err := admission.New(admission.Config{Validator: cfg.Validator, Queue: cfg.Queue, Keys: cfg.Keys, Pools: cfg.Pools, SendTimeout: cfg.Budget,
		Now: cfg.Now, Logger: cfg.Logger, LogPrefix: "chatops"})
	if err != nil {
		return nil, err
	}
	h := &Handler{cfg: cfg, admission: adm, mux: http.NewServeMux()}
	h.mux.HandleFunc("POST /v1/chatops/slack", h.platform(cfg.Slack != nil, h.slack))
	h.mux.HandleFunc("POST /v1/chatops/dingtalk", h.platform(cfg.DingTalk != nil, h.dingtalk))
	h.mux.HandleFunc("POST /v1/chatops/feishu", h.platform(cfg.Feishu != nil, h.feishu))
	h.mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "not found", http.StatusNotFound)
	})
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// platform reads the body (bounded) for a configured platform, or 404s.
func (h *Handler) platform(enabled bool, serve func(http.ResponseWriter, *http.Request, []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !enabled {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, h.cfg.MaxBody+1))
		if err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		if int64(len(body)) > h.cfg.MaxBody {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		serve(w, r, body)
	}
}

func (h *Handler) unauthorized(w http.ResponseWriter, r *http.Request, platform string, err error) {
	h.cfg.Logger.LogAttrs(r.Context(), slog.LevelInfo, "chatops: rejected signature",
		slog.String("platform", platform), slog.String("reason", err.Error()))
	http.Error(w, "unauthorized", http.StatusUnauthorized)
}

// incoming is a verified command from any platform.
type incoming struct {
	platform string
	text     string
	team     string // Slack team_id (workspace)
	user     string
	dedupe   string    // the platform's id of this message (stable across its retries)
	replyURL string    // where results go ("" = nowhere)
	expires  time.Time // when replyURL expires (zero = never)
}

// answer is what the user sees right away.
type answer struct {
	text   string
	public bool // in the channel rather than only to the user (Slack)
}

// run executes a command within the budget.
func (h *Handler) run(ctx context.Context, in incoming) answer {
	cmd, err := ParseCommand(in.text)
	if err != nil {
		// Every wrong part at once: what the parser saw and what the
		// well-formed options would still get wrong.
		if cmd.Verb == VerbCreate && cmd.Name != "" {
			if req, berr := h.cfg.Presets.BuildRequest(cmd); req != nil {
				var pe, be *CommandError
				if errors.As(err, &pe) && errors.As(berr, &be) {
					err = commandError(append(slices.Clone(pe.Problems), be.Problems...))
				}
				err = errors.Join(err, h.cfg.Validator.Validate(req))
			}
		}
		return answer{text: ErrorText(err) + "\n" + HelpText(h.cfg.Presets)}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.Budget)
	defer cancel()
	if cmd.Verb != VerbStatus && cmd.Verb != VerbCreate {
		return answer{text: HelpText(h.cfg.Presets)}
	}
	action := caller.ActionCreate
	if cmd.Verb == VerbStatus {
		action = caller.ActionStatus
	}
	rec := caller.Record{Caller: caller.SimpleCaller, Source: in.platform, Action: action, ClusterId: cmd.Cluster, Name: cmd.Name}
	var who *caller.Caller
	if h.cfg.Callers != nil {
		c, ok := h.cfg.Callers.ByChat(in.platform, in.team, in.user)
		if !ok {
			rec.Caller, rec.Decision, rec.Reason = "", caller.DecisionDenied, "chat identity not mapped to a caller"
			h.audit(ctx, rec)
			return answer{text: NotMappedText(in.platform, in.team, in.user)}
		}
		who, rec.Caller = c, c.Id
	}
	if cmd.Verb == VerbStatus {
		return h.status(ctx, cmd, who, rec)
	}
	return h.create(ctx, in, cmd, who)
}

// audit writes one audit record of a chat decision.
func (h *Handler) audit(ctx context.Context, rec caller.Record) {
	caller.Audit(ctx, h.cfg.Logger, rec)
}

func (h *Handler) status(ctx context.Context, cmd Command, who *caller.Caller, rec caller.Record) answer {
	if err := h.cfg.Validator.ValidatePoolKey(cmd.Cluster, cmd.Name); err != nil {
		return answer{text: ErrorText(err)}
	}
	if who != nil && !who.MayUseCluster(cmd.Cluster) {
		rec.Decision, rec.Reason = caller.DecisionDenied, "ClusterId: not a cluster this caller may read (rule Clusters)"
		h.audit(ctx, rec)
		return answer{text: DeniedText(&caller.DeniedError{Caller: who.Id, Rule: "Clusters", Field: "ClusterId", Message: "not a cluster you may read"})}
	}
	rec.Decision = caller.DecisionAccepted
	h.audit(ctx, rec)
	pools, err := h.cfg.Pools.DescribeClusterNodePools(ctx, cmd.Cluster)
	switch {
	case errors.Is(err, ens.ErrNotFound):
		return answer{text: "Cluster `" + cmd.Cluster + "` was not found."}
	case err != nil:
		h.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "chatops: status unavailable", logattr.Error(err))
		return answer{text: "The node pool status is unavailable right now; try again in a minute."}
	}
	for i := range pools {
		if pools[i].NodepoolInfo.Name == cmd.Name {
			return answer{text: StatusText(cmd.Cluster, cmd.Name, &pools[i])}
		}
	}
	return answer{text: StatusText(cmd.Cluster, cmd.Name, nil)}
}

// create builds the request from the command and admits it
// (pkg/admission), answering with what the user may do next.
func (h *Handler) create(ctx context.Context, in incoming, cmd Command, who *caller.Caller) answer {
	req, err := h.cfg.Presets.BuildRequest(cmd)
	if req == nil {
		return answer{text: ErrorText(err)}
	}
	policyDefaults(req, who)
	if in.replyURL != "" {
		req.Callback = &nodepool.Callback{Url: in.replyURL, Format: in.platform, ExpiresAt: in.expires.UTC().Truncate(time.Second)}
	}
	key := ""
	if in.dedupe != "" {
		key = in.platform + ":" + in.dedupe
	}
	requestID := nodepool.RequestID(key, "")
	// err, an option that is not a number, is reported with every problem
	// validation finds: every wrong option at once.
	ar := admission.Request{Request: req, Err: err, RequestID: requestID, Caller: who,
		Source: nodepool.SourceChatOps, Channel: in.platform,
		LogAttrs: []slog.Attr{slog.String("platform", in.platform), slog.String("user", in.user)}}
	if cmd.DryRun {
		res, err := h.admission.DryRun(ctx, ar)
		if err == nil {
			return answer{text: DryRunText(req.ClusterId, req.NodepoolInfo.Name, res)}
		}
		if a, ok := refusal(err, requestID); ok {
			return a
		}
		h.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "chatops: dry run unavailable",
			slog.String(logattr.KeyRequestID, requestID), logattr.Error(err))
		return answer{text: "ENS did not answer the dry run; try again in a minute. Nothing was queued."}
	}
	_, err = h.admission.Admit(ctx, ar)
	if err == nil {
		return answer{text: AckText(requestID, req.ClusterId, req.NodepoolInfo.Name, req.Callback != nil), public: true}
	}
	if a, ok := refusal(err, requestID); ok {
		return a
	}
	h.cfg.Logger.LogAttrs(ctx, slog.LevelError, "chatops: enqueue failed",
		slog.String(logattr.KeyRequestID, requestID), logattr.Error(err))
	return answer{text: "The request queue is unavailable; nothing may have been accepted. Try again in a minute (RequestId `" + requestID + "`; a repeat of the same create is safe)."}
}

// refusal is the answer to an admission refusal the user can act on: an
// invalid request, one outside the caller's policy, a reused message, a
// dry run's unknown cluster. ok is false for the service's own trouble.
func refusal(err error, requestID string) (a answer, ok bool) {
	var de *caller.DeniedError
	var ae *admission.Error
	switch code := admission.CodeOf(err); {
	case code == admission.CodeInvalid:
		return answer{text: ErrorText(err)}, true
	case errors.As(err, &de):
		return answer{text: DeniedText(de)}, true // presets and options stay inside the caller's policy
	case code == admission.CodeKeyReused:
		return answer{text: "This message was already taken as another request (RequestId `" + requestID + "`); nothing more was queued."}, true
	case code == admission.CodeClusterNotFound && errors.As(err, &ae):
		return answer{text: ae.Message + ". Nothing was queued."}, true
	}
	return answer{}, false
}

// policyDefaults fills in what the caller's policy requires a request to
// name and chat may leave out: a caller with ChargeTypes gets the first one
// listed when neither the preset nor a charge= option names one, so a
// policy never makes chat unusable (charge= still chooses another allowed
// one).
func policyDefaults(req *nodepool.Request, who *caller.Caller) {
	if who != nil && len(who.ChargeTypes) > 0 && req.ScalingGroup.InstanceChargeType == "" {
		req.ScalingGroup.InstanceChargeType = who.ChargeTypes[0]
	}
}

// allowedURL returns raw if it is an https URL (or any scheme on an extra
// host) whose host is in hosts, else "".
func (h *Handler) allowedURL(raw string, hosts []string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || !chatreply.HostAllowed(u, hosts) {
		return ""
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && chatreply.HostAllowed(u, h.cfg.ExtraHosts)) {
		return ""
	}
	return raw
}

// slack handles a slash command
// (https://api.slack.com/interactivity/slash-commands).
func (h *Handler) slack(w http.ResponseWriter, r *http.Request, body []byte) {
	if err := h.cfg.Slack.Verify(r, body); err != nil {
		h.unauthorized(w, r, chatreply.Slack, err)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	if form.Get("ssl_check") == "1" {
		w.WriteHeader(http.StatusOK)
		return
	}
	in := incoming{
		platform: chatreply.Slack,
		text:     form.Get("command") + " " + form.Get("text"),
		team:     form.Get("team_id"),
		user:     form.Get("user_id"),
		dedupe:   form.Get("trigger_id"),
		replyURL: h.allowedURL(form.Get("response_url"), h.cfg.SlackHosts),
	}
	if in.replyURL != "" {
		in.expires = h.cfg.Now().Add(chatreply.SlackResponseURLTTL)
	}
	a := h.run(r.Context(), in)
	rt := "ephemeral"
	if a.public {
		rt = "in_channel"
	}
	httpjson.Write(w, http.StatusOK, chatreply.SlackMessage{ResponseType: rt, Text: a.text})
}

// dingTalkMessage is the outgoing robot's request body
// (https://open.dingtalk.com/document/orgapp/receive-message).
type dingTalkMessage struct {
	MsgType string `json:"msgtype"`
	Text    struct {
		Content string `json:"content"`
	} `json:"text"`
	MsgID                     string `json:"msgId"`
	SenderStaffID             string `json:"senderStaffId"`
	SessionWebhook            string `json:"sessionWebhook"`
	SessionWebhookExpiredTime int64  `json:"sessionWebhookExpiredTime"`
}

// dingtalk handles an outgoing-robot message; the answer is a markdown
// message in the response body.
func (h *Handler) dingtalk(w http.ResponseWriter, r *http.Request, body []byte) {
	if err := h.cfg.DingTalk.Verify(r, body); err != nil {
		h.unauthorized(w, r, chatreply.DingTalk, err)
		return
	}
	var m dingTalkMessage
	if err := json.Unmarshal(body, &m); err != nil {
		http.Error(w, "bad JSON", http.StatusBadRequest)
		return
	}
	if m.MsgType != "" && m.MsgType != "text" {
		httpjson.Write(w, http.StatusOK, chatreply.NewDingTalkMessage("nodepool", "Send me a text command.\n\n"+HelpText(h.cfg.Presets)))
		return
	}
	in := incoming{platform: chatreply.DingTalk, text: m.Text.Content, user: m.SenderStaffID, dedupe: m.MsgID}
	if exp := time.UnixMilli(m.SessionWebhookExpiredTime); m.SessionWebhookExpiredTime > 0 && exp.After(h.cfg.Now()) {
		if in.replyURL = h.allowedURL(m.SessionWebhook, h.cfg.DingTalkHosts); in.replyURL != "" {
			in.expires = exp
		}
	}
	a := h.run(r.Context(), in)
	httpjson.Write(w, http.StatusOK, chatreply.NewDingTalkMessage("nodepool", a.text))
}

// feishuEvent is the part of a v2 im.message.receive_v1 event (and of a
// url_verification request) that is read
// (https://open.feishu.cn/document/server-docs/im-v1/message/events/receive).
type feishuEvent struct {
	Type      string `json:"type"`
	Challenge string `json:"challenge"`
	Header    struct {
		EventID   string `json:"event_id"`
		EventType string `json:"event_type"`
	} `json:"header"`
	Event struct {
		Sender struct {
			SenderID struct {
				OpenID string `json:"open_id"`
			} `json:"sender_id"`
		} `json:"sender"`
		Message struct {
			MessageID   string `json:"message_id"`
			MessageType string `json:"message_type"`
			Content     string `json:"content"`
		} `json:"message"`
	} `json:"event"`
}

// feishu handles the url_verification challenge and message events. The
// answer to an event is an empty 200; what the user sees is a reply.
func (h *Handler) feishu(w http.ResponseWriter, r *http.Request, body []byte) {
	plain, err := h.cfg.Feishu.Open(r, body)
	if err != nil {
		h.unauthorized(w, r, chatreply.Feishu, err)
		return
	}
	var ev feishuEvent
	if err := json.Unmarshal(plain, &ev); err != nil {
		http.Error(w, "bad JSON", http.StatusBadRequest)
		return
	}
	if ev.Type == "url_verification" {
		httpjson.Write(w, http.StatusOK, map[string]string{"challenge": ev.Challenge})
		return
	}
	msg := ev.Event.Message
	if ev.Header.EventType != "im.message.receive_v1" || msg.MessageID == "" {
		httpjson.Write(w, http.StatusOK, struct{}{}) // other events: acknowledged, ignored
		return
	}
	var text string
	if msg.MessageType == "text" {
		var c struct {
			Text string `json:"text"`
		}
		_ = json.Unmarshal([]byte(msg.Content), &c)
		text = c.Text
	}
	in := incoming{platform: chatreply.Feishu, text: text, user: ev.Event.Sender.SenderID.OpenID,
		dedupe: cmp.Or(ev.Header.EventID, msg.MessageID), replyURL: h.cfg.FeishuClient.ReplyURL(msg.MessageID)}
	start := h.cfg.Now()
	a := h.run(r.Context(), in)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), max(h.cfg.Budget-h.cfg.Now().Sub(start), 500*time.Millisecond))
	defer cancel()
	if err := h.cfg.FeishuReplier.Reply(ctx, msg.MessageID, a.text); err != nil {
		h.cfg.Logger.LogAttrs(r.Context(), slog.LevelWarn, "chatops: feishu reply failed", logattr.Error(err))
	}
	httpjson.Write(w, http.StatusOK, struct{}{})
}

// Paths of the routes, for wiring.
var Paths = []string{"/v1/chatops/slack", "/v1/chatops/dingtalk", "/v1/chatops/feishu"}

// Route reports whether path is served by a Handler.
func Route(path string) bool { return strings.HasPrefix(path, "/v1/chatops/") }
