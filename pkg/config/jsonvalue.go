package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/ensnodepool/webhook/pkg/caller"
)

// bom is the UTF-8 byte order mark some editors put before JSON.
const bom = "\uFEFF"

// JSONValue returns the JSON a setting holds (CALLERS, CHATOPS_PRESETS):
// the value itself when its first character, after white space and a byte
// order mark, opens a JSON object or list; else the content of the file
// it names, without a byte order mark. "" is unset (nil, nil). An error
// names the setting, never the value nor the path: a value meant as
// inline JSON but mangled would otherwise be echoed as a path.
func JSONValue(name, v string) ([]byte, error) {
	v = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), bom))
	if v == "" {
		return nil, nil
	}
	if v[0] == '[' || v[0] == '{' {
		return []byte(v), nil
	}
	b, err := os.ReadFile(v)
	if err != nil {
		reason := "unreadable"
		var pe *fs.PathError
		if errors.As(err, &pe) {
			reason = pe.Err.Error()
		}
		return nil, fmt.Errorf("%s: not inline JSON (starting with [ or {), and no file can be read at that path (%s)", name, reason)
	}
	return bytes.TrimPrefix(b, []byte(bom)), nil
}

// ParseCallers reads a CALLERS value (JSONValue, then caller.Parse): nil
// in simple mode. Errors name CALLERS and positions, never the value.
func ParseCallers(v string) (*caller.Set, error) {
	data, err := JSONValue(EnvCallers, v)
	if err != nil || data == nil {
		return nil, err
	}
	set, err := caller.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvCallers, err)
	}
	return set, nil
}
