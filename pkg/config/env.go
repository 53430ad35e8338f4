package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ensnodepool/webhook/pkg/fcadapter"
)

// Env reads settings from an environment (os.Getenv in mains, a map in
// tests) and records the name of every setting it reads, so that a list
// of settings (Names) is derived from the code that reads them and cannot
// drift from it.
//
// A value is trimmed of surrounding white space; an empty value is unset
// and gives the default. A malformed value gives the default too and one
// error, which Err returns with all the others: it names the variable and
// what it wants ("POOL_DEADLINE: want a positive duration like 1h"), never
// the value, since a secret may sit in any setting.
//
// Lists are comma-separated; each item is trimmed and empty items are
// skipped, so "a, b," is [a b] (a list assembled from optional parts, as
// s.yaml's ${env(…)} and shell templates do, may end in a comma).
//
// An Env is not safe for concurrent use.
type Env struct {
	getenv  func(string) string
	names   []string
	secrets []string
	read    map[string]bool
	errs    []error
}

// NewEnv returns an Env reading through getenv.
func NewEnv(getenv func(string) string) *Env {
	return &Env{getenv: getenv, read: map[string]bool{}}
}

// Names returns the names read so far, in the order first read.
func (e *Env) Names() []string { return slices.Clone(e.names) }

// SecretNames returns the names read as secrets (Secret, SecretList), in
// the order first read.
func (e *Env) SecretNames() []string { return slices.Clone(e.secrets) }

// Err returns every error so far, joined; nil if there is none.
func (e *Env) Err() error { return errors.Join(e.errs...) }

// Want records that name's value is not what it should be: "NAME: want
// <what>". what must not contain the value.
func (e *Env) Want(name, what string) {
	e.errs = append(e.errs, fmt.Errorf("%s: want %s", name, what))
}

// Fail records err, which names its settings and contains no value.
func (e *Env) Fail(err error) { e.errs = append(e.errs, err) }

// value reads name, recording it.
func (e *Env) value(name string) string {
	if !e.read[name] {
		e.read[name] = true
		e.names = append(e.names, name)
	}
	return strings.TrimSpace(e.getenv(name))
}

// String returns name's value, or def when unset.
func (e *Env) String(name, def string) string {
	if v := e.value(name); v != "" {
		return v
	}
	return def
}

// OneOf returns which of choices name's value is, compared without
// regard to case and returned as written in choices; def when unset.
func (e *Env) OneOf(name, def string, choices ...string) string {
	v := e.value(name)
	if v == "" {
		return def
	}
	for _, c := range choices {
		if strings.EqualFold(v, c) {
			return c
		}
	}
	e.Want(name, strings.Join(choices, " or "))
	return def
}

// List returns name's comma-separated items (nil when unset).
func (e *Env) List(name string) []string { return split(e.value(name)) }

// split splits a comma-separated list, trimming items and skipping empty
// ones.
func split(v string) []string {
	var out []string
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// Int returns name's value as a positive integer, or def when unset.
func (e *Env) Int(name string, def int) int {
	return typed(e, name, def, "a positive integer", func(v string) (int, bool) {
		n, err := strconv.Atoi(v)
		return n, err == nil && n >= 1
	})
}

// Float returns name's value as a positive number, or def when unset.
func (e *Env) Float(name string, def float64) float64 {
	return typed(e, name, def, "a positive number", func(v string) (float64, bool) {
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil && f > 0 && f <= 1e300 // no NaN, no infinity
	})
}

// Bool returns name's value as a boolean (strconv.ParseBool: true, false,
// 1, 0, …), or def when unset.
func (e *Env) Bool(name string, def bool) bool {
	return typed(e, name, def, "true or false", func(v string) (bool, bool) {
		b, err := strconv.ParseBool(v)
		return b, err == nil
	})
}

// Duration returns name's value as a positive Go duration ("90s", "60m"),
// or def when unset.
func (e *Env) Duration(name string, def time.Duration) time.Duration {
	return typed(e, name, def, "a positive duration like "+short(def), func(v string) (time.Duration, bool) {
		d, err := time.ParseDuration(v)
		return d, err == nil && d > 0
	})
}

// typed reads name's value through parse, which reports whether the value
// is one; def when unset, or when it is not (then name wants want).
func typed[T any](e *Env, name string, def T, want string, parse func(string) (T, bool)) T {
	v := e.value(name)
	if v == "" {
		return def
	}
	t, ok := parse(v)
	if !ok {
		e.Want(name, want)
		return def
	}
	return t
}

// Durations returns name's items as positive durations; nil when unset
// or when an item is not one.
func (e *Env) Durations(name string) []time.Duration {
	var out []time.Duration
	for i, item := range e.List(name) {
		d, err := time.ParseDuration(item)
		if err != nil || d <= 0 {
			e.Want(name, "positive durations separated by commas, like 5s,5m,30m (item "+strconv.Itoa(i+1)+")")
			return nil
		}
		out = append(out, d)
	}
	return out
}

// Prefixes returns name's items as CIDR prefixes, masked (10.1.2.3/8 is
// 10.0.0.0/8); the items that are not prefixes are reported by position.
func (e *Env) Prefixes(name string) []netip.Prefix {
	var out []netip.Prefix
	for i, item := range e.List(name) {
		p, err := netip.ParsePrefix(item)
		if err != nil {
			e.Want(name, "CIDR prefixes like 10.0.0.0/8, comma-separated (item "+strconv.Itoa(i+1)+")")
			continue
		}
		out = append(out, p.Masked())
	}
	return out
}

// Level returns name's value as a log level (fcadapter.ParseLevel: debug,
// info, warn or warning, error, any case), or def when unset.
func (e *Env) Level(name string, def slog.Level) slog.Level {
	return typed(e, name, def, "debug, info, warn or error", func(v string) (slog.Level, bool) {
		l, err := fcadapter.ParseLevel(v)
		return l, err == nil
	})
}

// URL returns name's value as an absolute http(s) URL without user info
// or a trailing slash, or def when unset. A scheme alone ("https://", as
// s.yaml derives a URL from an unset domain) counts as unset.
func (e *Env) URL(name, def string) string {
	v := strings.TrimRight(e.value(name), "/")
	if v == "" || v == "https:" || v == "http:" {
		return def
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		e.Want(name, "an absolute http(s) URL like https://example.com")
		return def
	}
	return v
}

// Secret returns name's value, a secret. The value may instead name a KMS
// secret ("kms:<name>", SecretsFromEnv reads it): then it is returned as
// it is and not checked, since its value is checked when read again with
// the secret's value in its place. Otherwise check, if not nil, returns
// what a malformed value should be ("" when it is fine).
func (e *Env) Secret(name string, check func(string) (want string)) string {
	e.markSecret(name)
	v := e.value(name)
	if v != "" && check != nil && !strings.HasPrefix(v, SecretPrefix) {
		if want := check(v); want != "" {
			e.Want(name, want)
		}
	}
	return v
}

// SecretList is Secret for a comma-separated list of secrets (several
// are accepted at once during a rotation).
func (e *Env) SecretList(name string, check func([]string) (want string)) []string {
	e.markSecret(name)
	v := e.value(name)
	list := split(v)
	if len(list) > 0 && check != nil && !strings.HasPrefix(v, SecretPrefix) {
		if want := check(list); want != "" {
			e.Want(name, want)
		}
	}
	return list
}

func (e *Env) markSecret(name string) {
	if !slices.Contains(e.secrets, name) {
		e.secrets = append(e.secrets, name)
	}
}

// short writes a duration as it is usually written in a setting: "1h",
// "5m", "4s" rather than "1h0m0s".
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
