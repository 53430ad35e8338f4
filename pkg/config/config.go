// Package config reads the functions' settings from the environment, in one
// place, with their defaults. Only functions/*/main.go and scripts/* call it;
// libraries take typed Config structs.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/ensnodepool/webhook/pkg/caller"
)

// Names of the environment variables the functions read. s.yaml sets them
// (a test keeps the two in step) and the local stack passes them to the
// function processes.
const (
	EnvMNSEndpoint        = "MNS_ENDPOINT"
	EnvRequestsQueue      = "QUEUE_REQUESTS"
	EnvTrackingQueue      = "QUEUE_TRACKING"
	EnvDeadLetterQueue    = "QUEUE_DEADLETTER"
	EnvENSEndpoint        = "ENS_ENDPOINT"
	EnvENSProtocol        = "ENS_PROTOCOL"
	EnvENSRegion          = "ENS_REGION"
	EnvENSWriteRate       = "ENS_WRITE_RATE"
	EnvENSDescribeRate    = "ENS_DESCRIBE_RATE"
	EnvWebhookSecret      = "WEBHOOK_SECRET"
	EnvCallbackSecret     = "CALLBACK_SECRET"
	EnvSealKeys           = "SEAL_KEYS"
	EnvCallbackAllowHTTP  = "CALLBACK_ALLOW_HTTP"
	EnvCallbackAllowCIDRs = "CALLBACK_ALLOW_CIDRS"
	EnvPoolDeadline       = "POOL_DEADLINE"
	EnvPoolLateWatch      = "POOL_LATE_WATCH"
	EnvPollFirst          = "POLL_FIRST"
	EnvPollMax            = "POLL_MAX"
	EnvPollWatch          = "POLL_WATCH"
	EnvCallbackTimeout    = "CALLBACK_TIMEOUT"
	EnvCallbackRetry      = "CALLBACK_RETRY_SCHEDULE"
	EnvCallbackPerHost    = "CALLBACK_PER_HOST"
	EnvPublicURL          = "PUBLIC_URL"
	EnvLogLevel           = "LOG_LEVEL"
	EnvSlackSigningSecret = "SLACK_SIGNING_SECRET"
	EnvDingTalkAppSecret  = "DINGTALK_APP_SECRET"
	EnvFeishuToken        = "FEISHU_VERIFICATION_TOKEN"
	EnvFeishuEncryptKey   = "FEISHU_ENCRYPT_KEY"
	EnvFeishuAppID        = "FEISHU_APP_ID"
	EnvFeishuAppSecret    = "FEISHU_APP_SECRET"
	EnvFeishuAPIBase      = "FEISHU_API_BASE"
	EnvChatOpsPresets     = "CHATOPS_PRESETS"
	EnvChatOpsAllowHosts  = "CHATOPS_ALLOW_HOSTS"
	EnvAccessKeyID        = "ALIBABA_CLOUD_ACCESS_KEY_ID"
	EnvAccessKeySecret    = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
	EnvSecurityToken      = "ALIBABA_CLOUD_SECURITY_TOKEN"
)

// Settings is every value the three functions read from their environment.
type Settings struct {
	// Callers is CALLERS (see Callers): the callers and their policies;
	// nil is simple mode.
	Callers *caller.Set
	// MNSEndpoint is the MNS queue endpoint, e.g.
	// https://<account-id>.mns.cn-hangzhou.aliyuncs.com or http://127.0.0.1:9100.
	MNSEndpoint string
	// RequestsQueue, TrackingQueue and DeadLetterQueue name the three queues.
	RequestsQueue, TrackingQueue, DeadLetterQueue string
	// ENSEndpoint is host[:port] of the ENS API (default ens.aliyuncs.com).
	ENSEndpoint string
	// ENSProtocol is HTTPS (default) or HTTP (the local simulator).
	ENSProtocol string
	// ENSRegion is the region id passed to the ENS client.
	ENSRegion string
	// ENSWriteRate and ENSDescribeRate are client-side limits in calls/s
	// (defaults 10 and 100, the documented per-account limits).
	ENSWriteRate, ENSDescribeRate float64
	// WebhookSecrets are the inbound Standard Webhooks secrets (whsec_…);
	// several are accepted at once for rotation.
	WebhookSecrets []string
	// CallbackSecrets sign outbound callbacks (whsec_…, comma-separated
	// in the variable): during a rotation every callback carries one
	// signature per secret, so receivers holding either verify it.
	CallbackSecrets []string
	// SealKeys is the password sealing key list "kid:base64key,…"; the first
	// seals, all open.
	SealKeys string
	// CallbackAllowHTTP permits http:// callback URLs (local mode only).
	CallbackAllowHTTP bool
	// CallbackAllow lists address ranges callbacks may reach although they
	// are private (e.g. 127.0.0.0/8 in local mode).
	CallbackAllow []netip.Prefix
	// PoolDeadline is how long the poller waits for a pool to become active
	// before it reports nodepool.timeout (default 60 minutes).
	PoolDeadline time.Duration
	// PoolLateWatch is how long the poller still checks a pool after its
	// nodepool.timeout, to report a late nodepool.active or
	// nodepool.failed (default 24 hours).
	PoolLateWatch time.Duration
	// PollFirst is how long after creation a pool is first checked
	// (default 4 s); the interval then doubles per check up to PollMax
	// (default 4 s: the poller watches pools still provisioning within its
	// invocation, so a change is reported within seconds; checks are one
	// read per cluster and page, shared by all its pools: at 10,000 pools
	// in 20 clusters, 200 reads per 4 s, half the documented 100/s).
	PollFirst, PollMax time.Duration
	// PollWatch is how long one poller invocation keeps watching pools in
	// flight (default 55 s, under the 1-minute timer; the function's
	// timeout, 58 s in s.yaml, bounds it too).
	PollWatch time.Duration
	// CallbackTimeout bounds one callback attempt (default 15 s).
	CallbackTimeout time.Duration
	// CallbackRetry is the retry schedule, comma-separated delays after
	// each failed attempt (default the published schedule,
	// callback.DefaultSchedule). Tests shorten it.
	CallbackRetry []time.Duration
	// CallbackPerHost bounds the callback attempts in flight to one
	// receiver host (default 4).
	CallbackPerHost int
	// PublicURL is the webhook's external base URL used in StatusUrl links.
	// A value without a host ("https://", as s.yaml derives it from an
	// unset CUSTOM_DOMAIN) counts as unset.
	PublicURL string
	// LogLevel is the functions' log level: LOG_LEVEL debug, info
	// (default), warn (or warning) or error, as fcadapter.ParseLevel reads
	// it.
	LogLevel slog.Level
	// SlackSigningSecrets verify Slack slash commands (comma-separated for
	// rotation); empty disables /v1/chatops/slack (404).
	SlackSigningSecrets []string
	// DingTalkAppSecrets verify DingTalk outgoing-robot calls; empty
	// disables /v1/chatops/dingtalk.
	DingTalkAppSecrets []string
	// FeishuVerificationTokens and FeishuEncryptKeys verify Feishu/Lark
	// events; no token disables /v1/chatops/feishu. FeishuAppID and
	// FeishuAppSecret let the functions reply (tenant access token);
	// FeishuAPIBase is the open API base (default https://open.feishu.cn,
	// https://open.larksuite.com for Lark).
	FeishuVerificationTokens, FeishuEncryptKeys []string
	FeishuAppID, FeishuAppSecret, FeishuAPIBase string
	// ChatOpsPresets is the presets JSON itself (starts with "{") or the
	// path of a JSON file holding it.
	ChatOpsPresets string
	// ChatOpsAllowHosts are extra host names chat results may be posted to
	// besides the platforms' own (local fakes only).
	ChatOpsAllowHosts []string
	// AccessKeyID, AccessKeySecret and SecurityToken are the fallback
	// credentials; on FC the per-invocation STS credentials win.
	AccessKeyID, AccessKeySecret, SecurityToken string
}

// Defaults for unset variables.
const (
	DefaultRequestsQueue   = "nodepool-requests"
	DefaultTrackingQueue   = "nodepool-tracking"
	DefaultDeadLetterQueue = "nodepool-deadletter"
	DefaultENSEndpoint     = "ens.aliyuncs.com"
	DefaultPoolDeadline    = 60 * time.Minute
	DefaultPoolLateWatch   = 24 * time.Hour
	DefaultPollFirst       = 4 * time.Second
	DefaultPollMax         = 4 * time.Second
	DefaultPollWatch       = 55 * time.Second
	DefaultCallbackTimeout = 15 * time.Second
	DefaultCallbackPerHost = 4
	DefaultFeishuAPIBase   = "https://open.feishu.cn"
)

// FromEnv reads Settings through getenv (os.Getenv in mains, a map in
// tests). It reports every malformed variable at once, by name; values are
// never echoed because some are secrets.
func FromEnv(getenv func(string) string) (Settings, error) {
	e := NewEnv(getenv)
	s := read(e)
	return s, e.Err()
}

// read reads every setting through e. It reads each name whatever the
// values are, so that Names, derived from it, lists them all.
func read(e *Env) Settings {
	s := Settings{
		MNSEndpoint:              e.String(EnvMNSEndpoint, ""),
		RequestsQueue:            e.String(EnvRequestsQueue, DefaultRequestsQueue),
		TrackingQueue:            e.String(EnvTrackingQueue, DefaultTrackingQueue),
		DeadLetterQueue:          e.String(EnvDeadLetterQueue, DefaultDeadLetterQueue),
		ENSEndpoint:              e.String(EnvENSEndpoint, DefaultENSEndpoint),
		ENSProtocol:              e.OneOf(EnvENSProtocol, "HTTPS", "HTTPS", "HTTP"),
		ENSRegion:                e.String(EnvENSRegion, ""),
		ENSWriteRate:             e.Float(EnvENSWriteRate, 10),
		ENSDescribeRate:          e.Float(EnvENSDescribeRate, 100),
		WebhookSecrets:           e.SecretList(EnvWebhookSecret, checkWebhookSecrets),
		CallbackSecrets:          e.SecretList(EnvCallbackSecret, checkCallbackSecrets),
		SealKeys:                 e.Secret(EnvSealKeys, checkSealKeys),
		CallbackAllowHTTP:        e.Bool(EnvCallbackAllowHTTP, false),
		CallbackAllow:            e.Prefixes(EnvCallbackAllowCIDRs),
		PoolDeadline:             e.Duration(EnvPoolDeadline, DefaultPoolDeadline),
		PoolLateWatch:            e.Duration(EnvPoolLateWatch, DefaultPoolLateWatch),
		PollFirst:                e.Duration(EnvPollFirst, DefaultPollFirst),
		PollMax:                  e.Duration(EnvPollMax, DefaultPollMax),
		PollWatch:                e.Duration(EnvPollWatch, DefaultPollWatch),
		CallbackTimeout:          e.Duration(EnvCallbackTimeout, DefaultCallbackTimeout),
		CallbackRetry:            e.Durations(EnvCallbackRetry),
		CallbackPerHost:          e.Int(EnvCallbackPerHost, DefaultCallbackPerHost),
		PublicURL:                e.URL(EnvPublicURL, ""),
		LogLevel:                 e.Level(EnvLogLevel, slog.LevelInfo),
		SlackSigningSecrets:      e.SecretList(EnvSlackSigningSecret, nil),
		DingTalkAppSecrets:       e.SecretList(EnvDingTalkAppSecret, nil),
		FeishuVerificationTokens: e.SecretList(EnvFeishuToken, nil),
		FeishuEncryptKeys:        e.SecretList(EnvFeishuEncryptKey, nil),
		FeishuAppID:              e.String(EnvFeishuAppID, ""),
		FeishuAppSecret:          e.Secret(EnvFeishuAppSecret, nil),
		FeishuAPIBase:            e.URL(EnvFeishuAPIBase, DefaultFeishuAPIBase),
		ChatOpsPresets:           e.String(EnvChatOpsPresets, ""),
		ChatOpsAllowHosts:        e.List(EnvChatOpsAllowHosts),
		AccessKeyID:              e.String(EnvAccessKeyID, ""),
		AccessKeySecret:          e.String(EnvAccessKeySecret, ""),
		SecurityToken:            e.String(EnvSecurityToken, ""),
	}
	s.Callers = callers(e, len(s.WebhookSecrets) > 0)
	checkEndpoints(e, s)
	if s.PollMax < s.PollFirst {
		e.Fail(fmt.Errorf("%s must not be below %s", EnvPollMax, EnvPollFirst))
	}
	if field, ok := s.Callers.ChatOn(caller.PlatformFeishu); ok && len(s.FeishuEncryptKeys) == 0 {
		// Without the Encrypt Key a Feishu event is neither signed nor
		// encrypted: its open_id would be the word of whoever knows the
		// verification token.
		e.Fail(fmt.Errorf("%s: %s maps a Feishu identity, and %s is not set: Feishu identities are trusted only from signed events",
			EnvCallers, field, EnvFeishuEncryptKey))
	}
	if len(s.FeishuVerificationTokens) > 0 && (s.FeishuAppID == "" || s.FeishuAppSecret == "") {
		e.Fail(fmt.Errorf("%s: Feishu needs %s and %s to reply", EnvFeishuToken, EnvFeishuAppID, EnvFeishuAppSecret))
	}
	return s
}

// Require reports the named settings that are empty, so each function can
// state what it needs. Names are the environment variable names.
func (s Settings) Require(names ...string) error {
	vals := map[string]string{
		EnvMNSEndpoint: s.MNSEndpoint,
		EnvSealKeys:    s.SealKeys,
		EnvENSRegion:   s.ENSRegion,
	}
	lists := map[string][]string{
		EnvWebhookSecret:  s.WebhookSecrets,
		EnvCallbackSecret: s.CallbackSecrets,
	}
	var errs []error
	for _, n := range names {
		if l, ok := lists[n]; ok {
			if len(l) == 0 {
				errs = append(errs, fmt.Errorf("%s is required", n))
			}
			continue
		}
		if v, ok := vals[n]; !ok {
			errs = append(errs, fmt.Errorf("config: %s cannot be required", n))
		} else if v == "" {
			errs = append(errs, fmt.Errorf("%s is required", n))
		}
	}
	return errors.Join(errs...)
}

// Names lists every environment variable the functions read (FromEnv
// and SecretsFromEnv), in the order they are read; the s.yaml test checks
// the deployed functions set what they need. It is derived from the
// readers: a setting they read is listed.
func Names() []string {
	e := NewEnv(func(string) string { return "" })
	read(e)
	readSecretSource(e)
	return e.Names()
}

// settingNames lists the names FromEnv reads.
func settingNames() []string {
	e := NewEnv(func(string) string { return "" })
	read(e)
	return e.Names()
}
