package fcapp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/secrets"
)

// InstanceConfig configures NewInstance.
type InstanceConfig struct {
	// Getenv reads the environment (os.Getenv in mains).
	Getenv func(string) string
	// LogOutput receives the instance's own log lines (secret refreshes).
	LogOutput io.Writer
	// Function names the function in those lines.
	Function string
	// Now is the clock of the refresh period; default time.Now.
	Now func() time.Time
}

// Instance is what one function instance runs: the app built from its
// settings, where every secret setting that reads "kms:<name>" holds the
// current value of that KMS secret (pkg/secrets). The secrets are read
// once when the instance starts, with the credentials FC puts in the
// instance's environment (its role's STS credentials), and again after
// SECRETS_REFRESH with the credentials of the invocation at hand; when a
// value changed the app is built anew, so a rotated secret is in use
// within one period without a redeploy.
type Instance[T any] struct {
	cfg   InstanceConfig
	base  config.Settings // as read, references unresolved (credentials, logging)
	cache *secrets.Cache
	build func(config.Settings) (T, error)
	log   *slog.Logger

	mu  sync.Mutex
	cur T
}

// NewInstance reads the settings, reads the referenced secrets and builds
// the app. Errors name settings and secrets, never values.
func NewInstance[T any](ctx context.Context, cfg InstanceConfig, build func(config.Settings) (T, error)) (*Instance[T], error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.LogOutput == nil {
		cfg.LogOutput = io.Discard
	}
	i := &Instance[T]{cfg: cfg, build: build}
	var err error
	if i.base, err = config.FromEnv(cfg.Getenv); err != nil {
		return nil, err
	}
	if i.log, err = Logger(i.base, cfg.LogOutput, cfg.Function); err != nil {
		return nil, err
	}
	src, err := config.SecretsFromEnv(cfg.Getenv)
	if err != nil {
		return nil, err
	}
	var reader secrets.Reader
	if len(src.Refs) > 0 {
		if reader, err = secrets.NewKMS(secrets.KMSConfig{Endpoint: src.KMSEndpoint, Protocol: src.KMSProtocol, RegionID: src.Region}); err != nil {
			return nil, err
		}
	}
	if i.cache, err = secrets.NewCache(secrets.Config{Refs: src.Refs, Reader: reader, Refresh: src.Refresh, Now: cfg.Now}); err != nil {
		return nil, err
	}
	if !i.cache.Empty() {
		cr := fallback(i.base)
		if !cr.Valid() {
			return nil, fmt.Errorf("reading secrets from KMS: %w", ErrNoCredentials)
		}
		if _, err := i.cache.Load(ctx, secrets.Credentials(cr)); err != nil {
			return nil, err
		}
	}
	s, err := config.FromEnv(i.cache.Getenv(cfg.Getenv))
	if err != nil {
		return nil, err
	}
	if i.cur, err = build(s); err != nil {
		return nil, err
	}
	return i, nil
}

// Logger is the instance's logger (the function's JSON format and level).
func (i *Instance[T]) Logger() *slog.Logger { return i.log }

// Get returns the app for an invocation (ctx carries its credentials,
// fcadapter.WithInvocation). When the refresh period has passed it first
// reads the secrets again; a failed read or build keeps the current app
// and is logged (WARN), and the read is retried shortly.
func (i *Instance[T]) Get(ctx context.Context) T {
	i.mu.Lock()
	defer i.mu.Unlock()
	if !i.cache.Due() {
		return i.cur
	}
	cr, err := Credentials(ctx, i.base)
	if err == nil {
		var changed bool
		if changed, err = i.cache.Load(ctx, secrets.Credentials(cr)); err == nil && changed {
			var s config.Settings
			if s, err = config.FromEnv(i.cache.Getenv(i.cfg.Getenv)); err == nil {
				var next T
				if next, err = i.build(s); err == nil {
					i.cur = next
					i.log.InfoContext(ctx, "secrets: a refreshed secret changed; settings rebuilt")
				}
			}
		}
	}
	if err != nil {
		i.log.WarnContext(ctx, "secrets: refresh failed; keeping the current values", slog.Any("error", err))
	}
	return i.cur
}
