package ledger

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/common"
	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
)

// Defaults of Config, in one place.
const (
	// DefaultTable is the table name when Config.Table is empty.
	DefaultTable = "nodepool_ledger"
	// DefaultRetention is how long a record is kept (the table's TTL).
	DefaultRetention = 30 * 24 * time.Hour
	// MinRetention is the shortest TTL Tablestore accepts (86400 s).
	MinRetention = 24 * time.Hour
	// DefaultTimeout bounds one store call including the SDK's retries.
	DefaultTimeout = 3 * time.Second
	// DefaultLease is how long a reservation blocks its key before
	// another Reserve may take it over (see Reserve).
	DefaultLease = 30 * time.Second
	// DefaultScan is how many index rows one List call reads at most.
	DefaultScan = 300
)

// Credentials is an AccessKey pair, with the SecurityToken of STS
// credentials. The field names match fcadapter.Credentials, so a plain
// conversion works.
type Credentials struct {
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string
}

// Config configures a Ledger. Zero fields take the defaults of withDefaults.
type Config struct {
	// Endpoint is the instance's endpoint with scheme, e.g.
	// "https://myinst.cn-hangzhou.ots.aliyuncs.com" or
	// "http://127.0.0.1:9300" for the local simulator. Required.
	Endpoint string
	// Instance is the Tablestore instance name. Required.
	Instance string
	// Table is the ledger table; default DefaultTable.
	Table string
	// Retention is the table's time to live (default DefaultRetention):
	// whole seconds, at least MinRetention; negative keeps rows forever.
	// Each cell expires Retention after it was written.
	Retention time.Duration
	// Credentials returns the AccessKey pair to sign with. The SDK calls it
	// before every attempt, so a function that swaps in each invocation's
	// STS credentials keeps one Ledger for the life of the instance.
	// Required.
	Credentials func() Credentials
	// Timeout bounds one store call including the SDK's own retries
	// (default DefaultTimeout); a store outage costs at most this per call.
	Timeout time.Duration
	// Lease is how long a reservation blocks its key (default DefaultLease).
	// It must exceed the time from Reserve to MarkQueued.
	Lease time.Duration
	// Scan is how many index rows one List call reads at most (default
	// DefaultScan), so a filter that matches little costs a bounded read.
	Scan int
	// Now is the clock of quota windows, flight deadlines, leases and Once
	// expiries; default time.Now.
	Now func() time.Time
	// Logger receives warnings (claimed rows, dangling index rows); nil
	// discards them.
	Logger *slog.Logger
	// Transport carries the SDK's HTTP requests (tests, fault injection);
	// default a pooled transport whose dial timeout is a third of Timeout.
	Transport http.RoundTripper
}

var (
	reTable    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,254}$`)
	reInstance = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{1,14}[A-Za-z0-9]$`)
)

func (c Config) withDefaults() Config {
	c.Endpoint = strings.TrimRight(c.Endpoint, "/")
	c.Table = cmp.Or(c.Table, DefaultTable)
	c.Retention = cmp.Or(c.Retention, DefaultRetention)
	c.Timeout = cmp.Or(c.Timeout, DefaultTimeout)
	c.Lease = cmp.Or(c.Lease, DefaultLease)
	c.Scan = cmp.Or(c.Scan, DefaultScan)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// validEndpoint reports whether v is an http(s) URL with a host and no
// user info.
func validEndpoint(v string) bool {
	u, err := url.Parse(v)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.User == nil && !strings.Contains(u.Host, "@")
}

// validate names the setting at fault and never its value (an endpoint may
// carry a secret in its userinfo).
func (c Config) validate() error {
	switch {
	case !validEndpoint(c.Endpoint):
		return errors.New("ledger: Config.Endpoint: want an http:// or https:// URL without user info")
	case !reInstance.MatchString(c.Instance):
		return errors.New("ledger: Config.Instance: want 3-16 letters, digits or hyphens, starting with a letter")
	case !reTable.MatchString(c.Table):
		return errors.New("ledger: Config.Table: want 1-255 of [A-Za-z0-9_], not starting with a digit")
	case c.Retention > 0 && (c.Retention < MinRetention || c.Retention%time.Second != 0):
		return fmt.Errorf("ledger: Config.Retention: want whole seconds of at least %s, or negative for no expiry", MinRetention)
	case c.Credentials == nil:
		return errors.New("ledger: Config.Credentials is required")
	case c.Timeout < 100*time.Millisecond:
		return errors.New("ledger: Config.Timeout: want at least 100ms")
	case c.Lease < time.Second:
		return errors.New("ledger: Config.Lease: want at least 1s")
	case c.Scan < 1 || c.Scan > 5000:
		return errors.New("ledger: Config.Scan: want 1..5000")
	}
	return nil
}

// ttlSeconds is the table's time_to_live: -1 or whole seconds.
func (c Config) ttlSeconds() int {
	if c.Retention < 0 {
		return -1
	}
	return int(c.Retention / time.Second)
}

// Ledger is the request ledger on one Tablestore table. It is safe for
// concurrent use; make one per process and keep it.
type Ledger struct {
	cfg Config
	// db retries as the SDK does, within the budget of Config.Timeout.
	db *tablestore.TableStoreClient
	// once sends each write exactly once (RetryTimes 0): the quota
	// counter, whose increment the SDK's re-send would apply twice.
	once *tablestore.TableStoreClient
	// owned is the transport Open made (nil with Config.Transport).
	owned *http.Transport
}

// Open checks cfg and returns a Ledger. It does not contact the store:
// EnsureTable and CheckTable do, and every call reports a store it cannot
// reach as ErrUnavailable.
func Open(ctx context.Context, cfg Config) (*Ledger, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	l := &Ledger{cfg: cfg}
	tr := cfg.Transport
	if tr == nil {
		l.owned = &http.Transport{
			DialContext:         (&net.Dialer{Timeout: cfg.Timeout / 3}).DialContext,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     25 * time.Second,
		}
		tr = l.owned
	}
	l.db, l.once = newClient(cfg, tr, 10), newClient(cfg, tr, 0)
	return l, nil
}

// Close closes the idle connections of the transport Open made. A Ledger
// still works after Close (it dials again); a function keeps one for the
// life of its instance and need not close it.
func (l *Ledger) Close() {
	if l.owned != nil {
		l.owned.CloseIdleConnections()
	}
}

// newClient builds an SDK client whose whole call, retries included, ends
// within cfg.Timeout: an attempt may take a third of it, and retries start
// only while the rest, less the longest back-off, lasts. (The SDK stops
// retrying once MaxRetryTime has passed since the first attempt, but the
// attempt it starts before then runs to its own timeout.)
func newClient(cfg Config, tr http.RoundTripper, retries uint) *tablestore.TableStoreClient {
	attempt := cfg.Timeout / 3
	backoff := min(320*time.Millisecond, cfg.Timeout/10)
	sdk := &tablestore.TableStoreConfig{
		RetryTimes:           retries,
		MaxRetryTime:         cfg.Timeout - attempt - backoff,
		HTTPTimeout:          tablestore.HTTPTimeout{ConnectionTimeout: attempt, RequestTimeout: attempt},
		MaxIdleConnections:   16,
		IdleConnTimeout:      25 * time.Second,
		Transport:            tr,
		DefaultRetryInterval: 10 * time.Millisecond,
		MaxRetryInterval:     backoff,
	}
	return tablestore.NewClientWithConfig(cfg.Endpoint, cfg.Instance, "", "", "", sdk,
		tablestore.SetCredentialsProvider(provider(cfg.Credentials)))
}

// provider adapts Config.Credentials to the SDK's CredentialsProvider.
type provider func() Credentials

// GetCredentials implements common.CredentialsProvider.
func (p provider) GetCredentials() common.Credentials {
	c := p()
	return &common.DefaultCredentials{AccessKeyID: c.AccessKeyID, AccessKeySecret: c.AccessKeySecret, SecurityToken: c.SecurityToken}
}

// Table returns the name of the ledger table.
func (l *Ledger) Table() string { return l.cfg.Table }
