// Package secrets resolves settings that name a secret in KMS Secrets
// Manager instead of holding its value: WEBHOOK_SECRET=kms:ens-nodepool/webhook
// means "the current value of the secret ens-nodepool/webhook". A Cache
// reads every referenced secret once per function instance, with the
// function's own (STS) credentials, and again when its refresh period has
// passed, so a rotated secret reaches running instances without a
// redeploy. Values never leave the Cache except through Getenv; errors
// name settings and secrets, never values.
package secrets

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"
)

// DefaultRefresh is how long a read value is used before it is read again.
const DefaultRefresh = 5 * time.Minute

// retryAfterFailure bounds how soon a failed refresh is tried again (the
// last good values stay in use meanwhile).
const retryAfterFailure = 30 * time.Second

// Reader reads the current value of a named secret (*KMS).
type Reader interface {
	GetSecretValue(ctx context.Context, cr Credentials, name string) (string, error)
}

// Config configures a Cache.
type Config struct {
	// Refs maps a setting (environment variable name) to the secret that
	// holds its value.
	Refs map[string]string
	// Reader reads the secrets. Required when Refs is not empty.
	Reader Reader
	// Refresh is how long values are used before they are read again;
	// default DefaultRefresh.
	Refresh time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Cache holds the values of the referenced secrets. It is safe for
// concurrent use.
type Cache struct {
	cfg Config

	mu     sync.Mutex
	values map[string]string // setting → value
	next   time.Time         // when a read is due
}

// NewCache checks cfg. Nothing is read until Load.
func NewCache(cfg Config) (*Cache, error) {
	cfg.Refresh = cmp.Or(cfg.Refresh, DefaultRefresh)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var errs []error
	for setting, name := range cfg.Refs {
		if name == "" || strings.ContainsAny(name, " \t\r\n,") {
			errs = append(errs, fmt.Errorf("%s: %q is not a secret name", setting, name))
		}
	}
	if len(cfg.Refs) > 0 && cfg.Reader == nil {
		errs = append(errs, errors.New("secrets: a Reader is required"))
	}
	if cfg.Refresh < 0 {
		errs = append(errs, errors.New("secrets: Refresh must be positive"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Cache{cfg: cfg, values: map[string]string{}}, nil
}

// Empty reports whether no setting refers to a secret.
func (c *Cache) Empty() bool { return len(c.cfg.Refs) == 0 }

// Due reports whether the values should be read (again): never read,
// or the refresh period (after a failure: a short retry delay) has passed.
func (c *Cache) Due() bool {
	if c.Empty() {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.cfg.Now().Before(c.next)
}

// Load reads every referenced secret with cr. It is all or nothing: on
// any error the previous values stay, and the next read is due after a
// short delay. changed reports whether any value differs from before.
func (c *Cache) Load(ctx context.Context, cr Credentials) (changed bool, err error) {
	if c.Empty() {
		return false, nil
	}
	got := make(map[string]string, len(c.cfg.Refs))
	byName := map[string]string{} // secret → value: one read per secret
	var errs []error
	for setting, name := range c.cfg.Refs {
		v, ok := byName[name]
		if !ok {
			if v, err = c.cfg.Reader.GetSecretValue(ctx, cr, name); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", setting, err))
				continue
			}
			byName[name] = v
		}
		if strings.TrimSpace(v) == "" {
			errs = append(errs, fmt.Errorf("%s: secret %s is empty", setting, name))
			continue
		}
		got[setting] = v
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	if err := errors.Join(errs...); err != nil {
		c.next = now.Add(min(retryAfterFailure, c.cfg.Refresh))
		return false, err
	}
	changed = !maps.Equal(got, c.values)
	c.values = got
	c.next = now.Add(c.cfg.Refresh)
	return changed, nil
}

// Getenv returns getenv with every referenced setting answered by its
// secret's value (as last loaded).
func (c *Cache) Getenv(getenv func(string) string) func(string) string {
	c.mu.Lock()
	values := maps.Clone(c.values)
	c.mu.Unlock()
	return func(k string) string {
		if v, ok := values[k]; ok {
			return v
		}
		return getenv(k)
	}
}
