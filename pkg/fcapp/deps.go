// Package fcapp builds what the three function mains share from their
// settings: the JSON logger, the ENS and MNS clients, the callback sender
// (with the chat platforms' renderers) and each invocation's credentials.
// It is wiring only; the behaviour lives in the packages it wires.
package fcapp

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/caller"
	"github.com/ensnodepool/webhook/pkg/chatreply"
	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/ens"
	"github.com/ensnodepool/webhook/pkg/fcadapter"
	"github.com/ensnodepool/webhook/pkg/mns"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// ErrNoCredentials is returned when neither the invocation nor the
// environment carries an AccessKey pair.
var ErrNoCredentials = errors.New("no credentials: neither the invocation nor ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET carry any")

// Logger returns the function's JSON logger at the configured level; every
// record carries the function name and, from the context, the FC request id.
func Logger(s config.Settings, w io.Writer, function string) (*slog.Logger, error) {
	return fcadapter.NewLogger(w, fcadapter.LogConfig{Level: s.LogLevel, FunctionName: function}), nil
}

// Credentials returns the invocation's STS credentials, else the
// environment's key pair (local runs).
func Credentials(ctx context.Context, s config.Settings) (fcadapter.Credentials, error) {
	if cr, ok := fcadapter.CredentialsFrom(ctx); ok && cr.Valid() {
		return cr, nil
	}
	if cr := fallback(s); cr.Valid() {
		return cr, nil
	}
	return fcadapter.Credentials{}, ErrNoCredentials
}

func fallback(s config.Settings) fcadapter.Credentials {
	return fcadapter.Credentials{AccessKeyID: s.AccessKeyID, AccessKeySecret: s.AccessKeySecret, SecurityToken: s.SecurityToken}
}

// Clients are the ENS and MNS clients of one function instance: their
// connection pools and the ENS rate limiters outlive invocations, while
// every invocation signs with its own credentials (For).
type Clients struct {
	ens *ens.Client
	mns *mns.Client
}

// NewClients builds the clients. The constructors want a key pair;
// placeholders stand in until an invocation brings its own.
func NewClients(s config.Settings, log *slog.Logger) (*Clients, error) {
	cr := fallback(s)
	if !cr.Valid() {
		cr = fcadapter.Credentials{AccessKeyID: "unset", AccessKeySecret: "unset"}
	}
	e, err := ens.New(ens.Config{Endpoint: s.ENSEndpoint, Protocol: s.ENSProtocol, RegionID: s.ENSRegion,
		Credentials: ens.Credentials(cr), WriteRate: s.ENSWriteRate, DescribeRate: s.ENSDescribeRate, Logger: log})
	if err != nil {
		return nil, err
	}
	q, err := mns.New(mns.Config{Endpoint: s.MNSEndpoint, Credentials: mns.Credentials(cr), Logger: log})
	if err != nil {
		return nil, err
	}
	return &Clients{ens: e, mns: q}, nil
}

// For returns the clients signing with cr; they share the instance's
// connection pools and limiters.
func (c *Clients) For(cr fcadapter.Credentials) (*ens.Client, *mns.Client, error) {
	e, err := c.ens.WithCredentials(ens.Credentials(cr))
	if err != nil {
		return nil, nil, err
	}
	return e, c.mns.WithCredentials(mns.Credentials(cr)), nil
}

// CallbackDeliverer returns the callback sender: Standard Webhooks signing
// with every CALLBACK_SECRET (one signature each, for rotation) — or,
// for the events of a caller with its own CallbackSecret (CALLERS), with
// that secret only — each caller's CallbackHosts (CallerPolicies), the
// SSRF policy of the settings, and the chat
// platforms' result formats (Feishu replies need FEISHU_APP_ID and
// FEISHU_APP_SECRET).
func CallbackDeliverer(s config.Settings, log *slog.Logger) (*callback.Deliverer, error) {
	rc := chatreply.RenderConfig{ExtraHosts: s.ChatOpsAllowHosts}
	if s.FeishuAppID != "" && s.FeishuAppSecret != "" {
		fc, err := chatreply.NewFeishuClient(chatreply.FeishuClientConfig{BaseURL: s.FeishuAPIBase, AppID: s.FeishuAppID, AppSecret: s.FeishuAppSecret})
		if err != nil {
			return nil, err
		}
		rc.Feishu = fc
	}
	return callback.NewDeliverer(callback.Config{Secrets: s.CallbackSecrets, Callers: CallerPolicies(s.Callers), Timeout: s.CallbackTimeout,
		Retry:     callback.Policy{Schedule: s.CallbackRetry},
		AllowHTTP: s.CallbackAllowHTTP, Allow: s.CallbackAllow, Renderers: chatreply.Renderers(rc), Logger: log,
		// Room for PerHost attempts to every host at once.
		MaxConnsPerHost: max(s.CallbackPerHost, 16)})
}

// CallerPolicies is what the callback sender applies to each caller of
// set (CALLERS): its own CallbackSecret, its CallbackHosts. Nil in simple
// mode.
func CallerPolicies(set *caller.Set) map[string]callback.CallerPolicy {
	if set == nil {
		return nil
	}
	m := map[string]callback.CallerPolicy{}
	for _, c := range set.Callers() {
		p := callback.CallerPolicy{AllowURL: c.AllowsCallback}
		if c.CallbackSecret != "" {
			p.Secrets = []string{c.CallbackSecret}
		}
		m[c.Id] = p
	}
	return m
}

// RequestsSender adapts the requests queue to nodepool.Sender: the
// envelope is visible at once and the answer is MNS's message id.
func RequestsSender(q *mns.Queue) nodepool.Sender {
	return nodepool.SenderFunc(func(ctx context.Context, body string) (string, error) {
		res, err := q.Send(ctx, body, 0)
		return res.MessageID, err
	})
}
