package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/events"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/chatops"
	"github.com/ensnodepool/webhook/pkg/chatreply"
	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/ens"
	"github.com/ensnodepool/webhook/pkg/fcadapter"
	"github.com/ensnodepool/webhook/pkg/fcapp"
	"github.com/ensnodepool/webhook/pkg/intake"
	"github.com/ensnodepool/webhook/pkg/mns"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// app wires pkg/intake to MNS and ENS. The clients live as long as the
// instance (connection pools, the ENS limiter); every call signs with the
// invocation's STS credentials, falling back to the environment's keys.
type app struct {
	s       config.Settings
	log     *slog.Logger
	clients *fcapp.Clients
	handler http.Handler
	// handle is the FC entry point: handler behind the HTTP trigger adapter.
	handle func(context.Context, events.HTTPTriggerEvent) (*events.HTTPTriggerResponse, error)
}

// Handle implements fcapp.App: one HTTP trigger invocation.
func (a *app) Handle(ctx context.Context, ev events.HTTPTriggerEvent) (*events.HTTPTriggerResponse, error) {
	return a.handle(ctx, ev)
}

// newApp checks the settings and builds the handler; log is the
// function's logger.
func newApp(s config.Settings, log *slog.Logger) (*app, error) {
	if err := errors.Join(s.Require(config.EnvMNSEndpoint, config.EnvSealKeys), s.RequireCallersOrSecret()); err != nil {
		return nil, err
	}
	a := &app{s: s, log: log}
	keys, err := nodepool.ParseKeys(s.SealKeys)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", config.EnvSealKeys, err)
	}
	sealer, err := nodepool.NewSealer(keys)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", config.EnvSealKeys, err)
	}
	if a.clients, err = fcapp.NewClients(s, log); err != nil {
		return nil, err
	}
	validator := nodepool.NewValidator(nodepool.ValidationConfig{AllowHTTPCallback: s.CallbackAllowHTTP, CallbackAllow: s.CallbackAllow})
	seen := nodepool.NewSeen(0) // one memory of RequestIds for both front doors
	api, err := intake.New(intake.Config{
		Secrets:       s.WebhookSecrets,
		Callers:       s.Callers,
		Sealer:        sealer,
		Validator:     validator,
		Queue:         sender{a},
		Keys:          seen,
		Pools:         pools{a},
		Logger:        a.log,
		StatusURLBase: s.PublicURL,
	})
	if err != nil {
		return nil, err
	}
	chat, err := newChatOps(s, validator, sender{a}, seen, pools{a}, a.log)
	if err != nil {
		return nil, err
	}
	a.handler = route(api, chat)
	a.handle = fcadapter.HTTPHandler(a.handler, &fcadapter.HTTPOptions{Logger: a.log})
	return a, nil
}

// route sends /v1/chatops/* to the ChatOps handler and the rest to the
// JSON API, unchanged.
func route(api, chat http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if chatops.Route(r.URL.Path) {
			chat.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// newChatOps builds the ChatOps handler; a platform without its secret
// settings is off (its route answers 404).
func newChatOps(s config.Settings, v *nodepool.Validator, q nodepool.Sender, keys *nodepool.Seen, p nodepool.PoolReader, log *slog.Logger) (*chatops.Handler, error) {
	presets, err := loadPresets(s.ChatOpsPresets)
	if err != nil {
		return nil, err
	}
	cfg := chatops.Config{Presets: presets, Callers: s.Callers, Validator: v, Queue: q, Keys: keys, Pools: p, ExtraHosts: s.ChatOpsAllowHosts, Logger: log}
	if len(s.SlackSigningSecrets) > 0 {
		if cfg.Slack, err = chatops.NewSlackVerifier(chatops.VerifierConfig{Secrets: s.SlackSigningSecrets}); err != nil {
			return nil, fmt.Errorf("%s: %w", config.EnvSlackSigningSecret, err)
		}
	}
	if len(s.DingTalkAppSecrets) > 0 {
		if cfg.DingTalk, err = chatops.NewDingTalkVerifier(chatops.VerifierConfig{Secrets: s.DingTalkAppSecrets}); err != nil {
			return nil, fmt.Errorf("%s: %w", config.EnvDingTalkAppSecret, err)
		}
	}
	if len(s.FeishuVerificationTokens) > 0 {
		if cfg.Feishu, err = chatops.NewFeishuVerifier(chatops.FeishuConfig{VerificationTokens: s.FeishuVerificationTokens, EncryptKeys: s.FeishuEncryptKeys}); err != nil {
			return nil, fmt.Errorf("%s: %w", config.EnvFeishuToken, err)
		}
		if cfg.FeishuClient, err = chatreply.NewFeishuClient(chatreply.FeishuClientConfig{BaseURL: s.FeishuAPIBase, AppID: s.FeishuAppID, AppSecret: s.FeishuAppSecret}); err != nil {
			return nil, fmt.Errorf("%s: %w", config.EnvFeishuAPIBase, err)
		}
		hc, err := callback.NewClient(callback.Config{Allow: s.CallbackAllow, AllowHTTP: s.CallbackAllowHTTP, Timeout: 2 * time.Second})
		if err != nil {
			return nil, err
		}
		cfg.FeishuReplier = chatops.FeishuReplier{Client: cfg.FeishuClient, HTTP: hc}
	}
	return chatops.New(cfg)
}

// loadPresets reads CHATOPS_PRESETS: inline JSON or a file path
// (config.JSONValue; errors never print the value).
func loadPresets(v string) (chatops.Presets, error) {
	data, err := config.JSONValue(config.EnvChatOpsPresets, v)
	if err != nil {
		return nil, err
	}
	ps, err := chatops.ParsePresets(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", config.EnvChatOpsPresets, err)
	}
	return ps, nil
}

// clientsFor returns the ENS and MNS clients signing with the
// invocation's credentials (else the environment's).
func (a *app) clientsFor(ctx context.Context) (*ens.Client, *mns.Client, error) {
	cr, err := fcapp.Credentials(ctx, a.s)
	if err != nil {
		return nil, nil, fmt.Errorf("webhook: %w", err)
	}
	return a.clients.For(cr)
}

// sender puts envelopes on the requests queue.
type sender struct{ a *app }

// Send implements nodepool.Sender.
func (s sender) Send(ctx context.Context, body string) (string, error) {
	_, q, err := s.a.clientsFor(ctx)
	if err != nil {
		return "", err
	}
	return fcapp.RequestsSender(q.Queue(s.a.s.RequestsQueue)).Send(ctx, body)
}

// pools reads node pools for the status endpoint and ChatOps.
type pools struct{ a *app }

// DescribeClusterNodePools implements nodepool.PoolReader.
func (p pools) DescribeClusterNodePools(ctx context.Context, clusterID string) ([]ens.NodePool, error) {
	c, _, err := p.a.clientsFor(ctx)
	if err != nil {
		return nil, err
	}
	return c.DescribeClusterNodePools(ctx, clusterID)
}
