package config

import (
	"log/slog"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestEnvReaders: each reader's value, default and error for one
// variable, X. An error names X and what it wants, never the value.
func TestEnvReaders(t *testing.T) {
	t.Parallel()
	type read func(e *Env) any
	tests := []struct {
		name  string
		value string
		read  read
		want  any
		err   string // "" for none; else what the error wants
	}{
		{"string", "  v  ", func(e *Env) any { return e.String("X", "def") }, "v", ""},
		{"string unset", " ", func(e *Env) any { return e.String("X", "def") }, "def", ""},
		{"one of, any case", "http", func(e *Env) any { return e.OneOf("X", "HTTPS", "HTTPS", "HTTP") }, "HTTP", ""},
		{"one of, another", "ftp", func(e *Env) any { return e.OneOf("X", "HTTPS", "HTTPS", "HTTP") }, "HTTPS", "X: want HTTPS or HTTP"},
		{"list trimmed", " a , b ", func(e *Env) any { return e.List("X") }, []string{"a", "b"}, ""},
		{"list empty items skipped", "a,,b,", func(e *Env) any { return e.List("X") }, []string{"a", "b"}, ""},
		{"list of only commas", " , ,", func(e *Env) any { return e.List("X") }, []string(nil), ""},
		{"list unset", "", func(e *Env) any { return e.List("X") }, []string(nil), ""},
		{"int", "8", func(e *Env) any { return e.Int("X", 4) }, 8, ""},
		{"int unset", "", func(e *Env) any { return e.Int("X", 4) }, 4, ""},
		{"int zero", "0", func(e *Env) any { return e.Int("X", 4) }, 4, "X: want a positive integer"},
		{"int word", "many", func(e *Env) any { return e.Int("X", 4) }, 4, "X: want a positive integer"},
		{"float", "2.5", func(e *Env) any { return e.Float("X", 10) }, 2.5, ""},
		{"float negative", "-1", func(e *Env) any { return e.Float("X", 10) }, 10.0, "X: want a positive number"},
		{"float NaN", "NaN", func(e *Env) any { return e.Float("X", 10) }, 10.0, "X: want a positive number"},
		{"float infinite", "+Inf", func(e *Env) any { return e.Float("X", 10) }, 10.0, "X: want a positive number"},
		{"bool", "TRUE", func(e *Env) any { return e.Bool("X", false) }, true, ""},
		{"bool 0", "0", func(e *Env) any { return e.Bool("X", true) }, false, ""},
		{"bool word", "maybe", func(e *Env) any { return e.Bool("X", false) }, false, "X: want true or false"},
		{"duration", "90s", func(e *Env) any { return e.Duration("X", time.Hour) }, 90 * time.Second, ""},
		{"duration unset", "", func(e *Env) any { return e.Duration("X", time.Hour) }, time.Hour, ""},
		{"duration without unit", "60", func(e *Env) any { return e.Duration("X", time.Hour) }, time.Hour, "X: want a positive duration like 1h"},
		{"duration zero", "0s", func(e *Env) any { return e.Duration("X", 4*time.Second) }, 4 * time.Second, "X: want a positive duration like 4s"},
		{"duration like its default", "soon", func(e *Env) any { return e.Duration("X", 5*time.Minute) }, 5 * time.Minute, "like 5m"},
		{"durations", "5s, 5m,30m", func(e *Env) any { return e.Durations("X") },
			[]time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute}, ""},
		{"durations, one bad", "5s,never", func(e *Env) any { return e.Durations("X") }, []time.Duration(nil),
			"X: want positive durations separated by commas, like 5s,5m,30m (item 2)"},
		{"prefixes masked", "127.0.0.1/8, ::1/128", func(e *Env) any { return e.Prefixes("X") },
			[]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}, ""},
		{"prefixes, an address", "10.0.0.0/8,10.0.0.1", func(e *Env) any { return e.Prefixes("X") },
			[]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, "X: want CIDR prefixes like 10.0.0.0/8, comma-separated (item 2)"},
		{"level", "WARNING", func(e *Env) any { return e.Level("X", slog.LevelInfo) }, slog.LevelWarn, ""},
		{"level debug", "debug", func(e *Env) any { return e.Level("X", slog.LevelInfo) }, slog.LevelDebug, ""},
		{"level unset", "", func(e *Env) any { return e.Level("X", slog.LevelInfo) }, slog.LevelInfo, ""},
		{"level loud", "loud", func(e *Env) any { return e.Level("X", slog.LevelInfo) }, slog.LevelInfo, "X: want debug, info, warn or error"},
		{"url", "https://hooks.example.com/", func(e *Env) any { return e.URL("X", "") }, "https://hooks.example.com", ""},
		{"url scheme alone", "https://", func(e *Env) any { return e.URL("X", "d") }, "d", ""},
		{"url with user", "https://u:p@x.example", func(e *Env) any { return e.URL("X", "") }, "", "X: want an absolute http(s) URL"},
		{"url relative", "hooks.example.com", func(e *Env) any { return e.URL("X", "") }, "", "X: want an absolute http(s) URL"},
		{"secret", "s3cret", func(e *Env) any { return e.Secret("X", nil) }, "s3cret", ""},
		{"secret checked", "s3cret", func(e *Env) any {
			return e.Secret("X", func(string) string { return "a better one" })
		}, "s3cret", "X: want a better one"},
		{"secret in KMS not checked", "kms:app/x", func(e *Env) any {
			return e.Secret("X", func(string) string { return "a better one" })
		}, "kms:app/x", ""},
		{"secret list", "s1, s2,", func(e *Env) any { return e.SecretList("X", nil) }, []string{"s1", "s2"}, ""},
		{"secret list checked", "s1,s2", func(e *Env) any {
			return e.SecretList("X", func(l []string) string {
				if len(l) != 2 {
					return "two items"
				}
				return "others"
			})
		}, []string{"s1", "s2"}, "X: want others"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := NewEnv(func(k string) string { return map[string]string{"X": tc.value}[k] })
			if got := tc.read(e); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
			err := e.Err()
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("error %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("error %v, want one with %q", err, tc.err)
			case err != nil && strings.TrimSpace(tc.value) != "" && strings.Contains(err.Error(), strings.TrimSpace(tc.value)):
				t.Errorf("error %v echoes the value", err)
			}
			if names := e.Names(); len(names) != 1 || names[0] != "X" {
				t.Errorf("Names() = %v, want [X]", names)
			}
		})
	}
}

// TestEnvRecordsOnce: a name read twice is listed once, in the order
// first read; secrets are listed apart.
func TestEnvRecordsOnce(t *testing.T) {
	t.Parallel()
	e := NewEnv(func(string) string { return "" })
	e.String("B", "")
	e.SecretList("A", nil)
	e.Secret("A", nil)
	e.Int("B", 1)
	if got := e.Names(); !slices.Equal(got, []string{"B", "A"}) {
		t.Errorf("Names() = %v", got)
	}
	if got := e.SecretNames(); !slices.Equal(got, []string{"A"}) {
		t.Errorf("SecretNames() = %v", got)
	}
}

// TestNamesAreWhatIsRead: the names FromEnv and SecretsFromEnv ask the
// environment for, whatever the values, are exactly Names(): a setting
// read is listed, and a listed setting is read.
func TestNamesAreWhatIsRead(t *testing.T) {
	t.Parallel()
	names := Names()
	for _, fill := range []string{"", "junk", "kms:ref", "1"} {
		asked := map[string]bool{}
		getenv := func(k string) string {
			asked[k] = true
			return fill
		}
		_, _ = FromEnv(getenv)
		_, _ = SecretsFromEnv(getenv)
		if got := slices.Sorted(maps.Keys(asked)); !slices.Equal(got, slices.Sorted(slices.Values(names))) {
			t.Errorf("every variable %q: read %v, Names() %v", fill, got, names)
		}
	}
	if len(names) != len(slices.Compact(slices.Sorted(slices.Values(names)))) {
		t.Errorf("Names() lists a name twice: %v", names)
	}
	for _, s := range SecretSettings() {
		if !slices.Contains(names, s) {
			t.Errorf("secret setting %s not in Names()", s)
		}
	}
}

// TestErrorsNeverPrintValues: whatever every variable holds — all at once
// or one at a time — no error of FromEnv or SecretsFromEnv contains it (a
// secret may sit in any setting): not CALLERS given as one object, with a
// byte order mark or as a path that is not there, not an endpoint with
// user info.
func TestErrorsNeverPrintValues(t *testing.T) {
	t.Parallel()
	const marker = "Zq7-value-Zq7"
	values := []string{marker, "kms:" + marker, marker + ",x", "whsec_" + marker, "https://" + marker + "/x y",
		`{"Id":"a","Secrets":["whsec_` + marker + `"]}`, "\uFEFF" + `{"Secrets":["` + marker + `"]}`, "\uFEFF[" + marker,
		"https://u:" + marker + "@mns.example.com", "u:" + marker + "@ens.example.com", "'[" + marker + "]'"}
	check := func(what string, getenv func(string) string) {
		_, err := FromEnv(getenv)
		_, serr := SecretsFromEnv(getenv)
		if err == nil && serr == nil {
			return // some values are fine for some settings
		}
		for _, e := range []error{err, serr} {
			if e != nil && strings.Contains(e.Error(), marker) {
				t.Errorf("%s: error prints the value:\n%v", what, e)
			}
		}
	}
	for _, v := range values {
		_, err := FromEnv(func(string) string { return v })
		if err == nil {
			t.Errorf("%q everywhere: no error", v)
		}
		check(v+" everywhere", func(string) string { return v })
		for _, name := range Names() {
			check(v+" in "+name, func(k string) string { return map[bool]string{true: v}[k == name] })
		}
	}
}
