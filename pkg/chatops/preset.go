package chatops

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// Preset is a named template for chat-created node pools, so chat users
// need not type image and vSwitch ids. Its fields are the JSON API's
// (PascalCase, as in the ENS API).
type Preset struct {
	// Description is shown by `nodepool help`.
	Description string `json:"Description,omitempty"`
	// ScalingGroup is the template; options typed in chat override
	// DesiredSize (size), InstanceTypes (type), ImageId (image),
	// VswitchIds (vsw), SystemDiskSize (disk), KeyPairName (keypair) and
	// InstanceChargeType (charge).
	// Password is not allowed: a preset lives in configuration and a chat
	// is no place for a password; use KeyPairName.
	ScalingGroup nodepool.ScalingGroup `json:"ScalingGroup"`
	// KubernetesConfig is copied into every request.
	KubernetesConfig *nodepool.KubernetesConfig `json:"KubernetesConfig,omitempty"`
}

// Presets maps preset names (lower-case) to presets. A preset named
// "default" is used when a command names none.
type Presets map[string]Preset

// DefaultPreset is the preset used when a command names none.
const DefaultPreset = "default"

// ParsePresets reads presets from JSON: an object of name → Preset.
// Unknown fields are errors; names are matched case-insensitively; a
// Password in a preset is an error.
func ParsePresets(data []byte) (Presets, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return Presets{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var raw map[string]Preset
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: presets: %v", ErrConfig, err)
	}
	out := make(Presets, len(raw))
	for name, p := range raw {
		key := strings.ToLower(strings.TrimSpace(name))
		if key == "" || strings.ContainsAny(key, " =\t") {
			return nil, fmt.Errorf("%w: presets: bad preset name %q", ErrConfig, name)
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("%w: presets: %q is defined twice", ErrConfig, key)
		}
		if p.ScalingGroup.Password != "" {
			return nil, fmt.Errorf("%w: presets: %s: Password is not allowed in a preset, use KeyPairName", ErrConfig, key)
		}
		out[key] = p
	}
	return out, nil
}

// Names returns the preset names, sorted.
func (ps Presets) Names() []string {
	out := make([]string, 0, len(ps))
	for k := range ps {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// BuildRequest merges a create command into its preset (with no presets
// configured, the options alone make the request). The result is not
// validated: pass it to the same nodepool.Validator as the JSON API. The
// errors returned here are *CommandError: an unknown preset (no request),
// or options that are not numbers (size, disk), all of them listed, with
// the request built from the rest so that validation can report the
// other fields too.
func (ps Presets) BuildRequest(cmd Command) (*nodepool.Request, error) {
	name := strings.ToLower(cmd.Options["preset"])
	if name == "" {
		name = DefaultPreset
	}
	p, ok := ps[name]
	if len(ps) == 0 && cmd.Options["preset"] == "" {
		// No presets at all: the options are the whole request.
		ok = true
	}
	if !ok {
		msg := "unknown preset " + quote(name)
		if cmd.Options["preset"] == "" {
			msg = "no preset given and no " + quote(DefaultPreset) + " preset configured"
		}
		if names := ps.Names(); len(names) > 0 {
			msg += "; presets: " + strings.Join(names, ", ")
		} else {
			msg += "; no presets are configured (CHATOPS_PRESETS)"
		}
		return nil, &CommandError{Message: msg}
	}
	r := &nodepool.Request{
		ClusterId:        cmd.Cluster,
		NodepoolInfo:     nodepool.NodepoolInfo{Name: cmd.Name},
		ScalingGroup:     p.ScalingGroup,
		KubernetesConfig: p.KubernetesConfig,
	}
	r = r.Clone() // the preset's slices stay untouched
	sg := &r.ScalingGroup
	var problems []string
	for _, k := range optionNames() {
		v, ok := cmd.Options[k]
		if !ok {
			continue
		}
		switch k {
		case "size":
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n < 1 {
				problems = append(problems, "size must be a whole number of nodes, at least 1, not "+quote(v))
				continue
			}
			sg.DesiredSize = int32(n)
		case "disk":
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.ToLower(v), "g"), 10, 32)
			if err != nil {
				problems = append(problems, "disk must be the system disk size in GiB, not "+quote(v))
				continue
			}
			sg.SystemDiskSize = int32(n)
		case "type":
			sg.InstanceTypes = splitList(v)
		case "vsw":
			sg.VswitchIds = splitList(v)
		case "image":
			sg.ImageId = v
		case "keypair":
			sg.KeyPairName, sg.Password = v, ""
		case "charge":
			sg.InstanceChargeType = chargeType(v)
		}
	}
	return r, commandError(problems)
}

// chargeTypes are the InstanceChargeType values ENS documents.
var chargeTypes = []string{"PostPaid", "PrePaid"}

// chargeType spells a typed charge type as ENS does (postpaid →
// PostPaid); anything else stays as typed, for validation to name.
func chargeType(v string) string {
	for _, c := range chargeTypes {
		if strings.EqualFold(v, c) {
			return c
		}
	}
	return v
}

// splitList splits "a,b" (also ";" or "，") into trimmed, non-empty items.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' || r == '，' }) {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
