package chatops

import (
	"cmp"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/ensnodepool/webhook/pkg/admission"
	"github.com/ensnodepool/webhook/pkg/caller"
	"github.com/ensnodepool/webhook/pkg/chatreply"
	"github.com/ensnodepool/webhook/pkg/ens"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// fieldOptions names a request field by what the chat user typed.
var fieldOptions = map[string]string{
	"ClusterId":         "<cluster>",
	"NodepoolInfo.Name": "<name>",
}

func init() {
	for k, f := range optionFields {
		if f != "" {
			fieldOptions[f] = k
		}
	}
}

// HelpExample is the example command `nodepool help` shows.
const helpExampleCluster, helpExampleName = "eck-abc123", "web-1"

// HelpText is the answer to `nodepool help` (and follows a command error).
// Parts in [brackets] are optional; which ones are depends on the
// presets: with a "default" preset every option is, with presets but no
// default preset= is required, and with none the options a request needs
// (size, type, image, vsw, keypair) are. It shows an example and what
// each preset sets, in the options' terms.
func HelpText(ps Presets) string {
	names := ps.Names()
	_, hasDefault := ps[DefaultPreset]
	opt := func(o string) string { return "[" + o + "]" }
	req := func(o string) string { return o }
	preset, needed := opt, opt // preset=, and the options a preset fills in
	switch {
	case len(names) == 0:
		needed = req
	case !hasDefault:
		preset = req
	}
	var b strings.Builder
	b.WriteString("Usage:\n")
	create := []string{"nodepool create <cluster> <name>"}
	if len(names) > 0 {
		create = append(create, preset("preset=<preset>"))
	}
	create = append(create, needed("size=<nodes>"), needed("type=<ens.x.y>[,…]"), needed("image=<m-…>"),
		needed("vsw=<vsw-…>[,…]"), opt("disk=<GiB>"), needed("keypair=<key pair>"), opt("charge=<PostPaid|PrePaid>"), opt("dry-run"))
	b.WriteString("`" + strings.Join(create, " ") + "`\n")
	b.WriteString("`nodepool status <cluster> <name>`\n")
	b.WriteString("`nodepool help`\n")
	example := "nodepool create " + helpExampleCluster + " " + helpExampleName
	switch {
	case len(names) == 0:
		example += " size=2 type=ens.sn1.small image=m-xxxx vsw=vsw-xxxx keypair=my-key"
	case hasDefault:
		example += " size=2"
	default:
		example += " preset=" + names[0] + " size=2"
	}
	b.WriteString("<…> is yours to fill in; [ … ] is optional; dry-run says what a create would do and does nothing.\n")
	b.WriteString("Example: `" + example + "`\n")
	if len(names) == 0 {
		b.WriteString("No presets are configured: give size=, type=, image=, vsw= and keypair= yourself. ")
		b.WriteString("Passwords cannot be sent in chat: use keypair=.")
		return b.String()
	}
	b.WriteString("Options override the preset")
	if hasDefault {
		b.WriteString(" (`" + DefaultPreset + "` when none is named)")
	}
	b.WriteString(". Passwords cannot be sent in chat: use keypair=.\n")
	b.WriteString("Presets:")
	for _, n := range names {
		p := ps[n]
		b.WriteString("\n• `" + n + "`")
		if d := p.Description; d != "" {
			b.WriteString(" — " + strings.TrimRight(d, "."))
		}
		if c := presetContents(p); c != "" {
			b.WriteString(": " + c)
		}
	}
	return b.String()
}

// presetContents lists what a preset sets, as the options that override
// it (plus data disks and user data, which only presets can set).
func presetContents(p Preset) string {
	sg := p.ScalingGroup
	var parts []string
	add := func(cond bool, s string) {
		if cond {
			parts = append(parts, s)
		}
	}
	add(sg.DesiredSize > 0, "size="+strconv.Itoa(int(sg.DesiredSize)))
	add(len(sg.InstanceTypes) > 0, "type="+strings.Join(sg.InstanceTypes, ","))
	add(sg.ImageId != "", "image="+sg.ImageId)
	add(len(sg.VswitchIds) > 0, "vsw="+strings.Join(sg.VswitchIds, ","))
	add(sg.SystemDiskSize > 0, "disk="+strconv.Itoa(int(sg.SystemDiskSize)))
	add(sg.KeyPairName != "", "keypair="+sg.KeyPairName)
	add(sg.InstanceChargeType != "", "charge="+sg.InstanceChargeType)
	var extra []string
	if n := len(sg.DataDisks); n > 0 {
		extra = append(extra, strconv.Itoa(n)+" data disk"+plural(n))
	}
	if k := p.KubernetesConfig; k != nil && (k.UserData != "" || k.PreUserData != "") {
		extra = append(extra, "user data")
	}
	s := strings.Join(parts, " ")
	if len(extra) > 0 {
		s += ", plus " + strings.Join(extra, " and ")
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// ErrorText renders command and validation errors as chat text, every
// problem of the command at once (errors.Join of a *CommandError and a
// *nodepool.ValidationError). A validation error lists each field by the
// option the user typed and by its JSON path, e.g. "• size
// (ScalingGroup.DesiredSize) must be between 1 and 100".
func ErrorText(err error) string {
	var (
		ce *CommandError
		ve *nodepool.ValidationError
		b  strings.Builder
	)
	if errors.As(err, &ce) {
		problems := ce.Problems
		if len(problems) == 0 {
			problems = []string{ce.Message}
		}
		if len(problems) == 1 {
			b.WriteString("Sorry, I could not read that: " + chatreply.Sentence(problems[0]))
		} else {
			b.WriteString("Sorry, I could not read that:")
			for _, p := range problems {
				b.WriteString("\n• " + p)
			}
		}
	}
	if errors.As(err, &ve) {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		b.WriteString("The node pool request is invalid:")
		for _, f := range ve.Fields {
			b.WriteString("\n• ")
			if opt, ok := optionFor(f.Field); ok {
				b.WriteString(opt + " (" + f.Field + ") ")
			} else if f.Field != "" {
				b.WriteString(f.Field + " (from the preset) ")
			}
			b.WriteString(strings.TrimRight(f.Message, "."))
		}
	}
	if b.Len() == 0 {
		return "Sorry, something went wrong."
	}
	return b.String()
}

// optionFor maps a JSON path (possibly with an index) to a chat option.
func optionFor(field string) (string, bool) {
	if i := strings.IndexByte(field, '['); i >= 0 {
		field = field[:i]
	}
	opt, ok := fieldOptions[field]
	return opt, ok
}

// NotMappedText is the polite refusal for a chat identity no caller's
// Chat list names: it says which identity to ask an administrator to add,
// and nothing about the callers that exist. A message that carries no
// identity a Chat entry could name (a Slack body without team_id or
// user_id, a DingTalk message without senderStaffId, a Feishu event
// without the sender's open_id) is told what is missing instead.
func NotMappedText(platform, team, user string) string {
	const refusal = "Sorry, you are not allowed to manage node pools from here"
	if missing := missingIdentity(platform, team, user); missing != "" {
		return refusal + ": " + missing + " Nothing was queued."
	}
	id := platform + ":" + user
	if platform == caller.PlatformSlack {
		id = platform + ":" + team + "/" + user
	}
	return refusal + ". Ask the platform team to add `" + id + "` to a caller's Chat list. Nothing was queued."
}

// missingIdentity says what a message lacks for a Chat entry
// ("slack:<team_id>/<user_id>", "dingtalk:<senderStaffId>",
// "feishu:<open_id>") to name it, and what to do; "" when it lacks
// nothing.
func missingIdentity(platform, team, user string) string {
	switch {
	case platform == caller.PlatformSlack && (team == "" || user == ""):
		return "this Slack request has no team_id or no user_id, so no caller's Chat list (`slack:<team_id>/<user_id>`) can name it. " +
			"Slack sends both with every slash command; a hand-made request must add them (e.g. `team_id=T0123&user_id=U0456`)."
	case platform == caller.PlatformDingTalk && user == "":
		return "this DingTalk message has no senderStaffId, so no caller's Chat list (`dingtalk:<senderStaffId>`) can name it. " +
			"DingTalk sends it to the robots of your own organisation: use such a robot."
	case user == "":
		return "this Feishu event names no sender open_id, so no caller's Chat list (`feishu:<open_id>`) can name it."
	}
	return ""
}

// DeniedText is the refusal for a command outside the caller's policy:
// the option (if one sets the field), the field and what is allowed.
func DeniedText(d *caller.DeniedError) string {
	what := d.Field
	if opt, ok := optionFor(d.Field); ok {
		what = opt + " (" + d.Field + ")"
	}
	return "Sorry, that is outside what you may create: " + what + " " + d.Message + " (rule " + d.Rule + "). Nothing was queued."
}

// AckText is the acknowledgement of an accepted create.
func AckText(requestID, cluster, name string, withResults bool) string {
	s := "Accepted: creating node pool `" + name + "` in `" + cluster + "`. RequestId `" + requestID + "`."
	if withResults {
		s += " I will post the progress here."
	} else {
		s += " Results cannot be posted to this conversation; use `nodepool status " + cluster + " " + name + "`."
	}
	return s
}

// DryRunText is the answer to `nodepool create … dry-run`: what the
// worker would do, and for a conflict each differing field by the option
// that sets it, with what was asked and what the pool has.
func DryRunText(cluster, name string, r admission.DryRunResult) string {
	pool := "node pool `" + name + "` in `" + cluster + "`"
	switch r.Outcome {
	case admission.OutcomeAdopt:
		return "Dry run: " + pool + " already exists (" + r.Pool.NodepoolInfo.NodepoolId + ") with this spec, so a create would adopt it " +
			"and report on it instead of creating another. Nothing was queued."
	case admission.OutcomeConflict:
		var b strings.Builder
		b.WriteString("Dry run: " + pool + " already exists (" + r.Pool.NodepoolInfo.NodepoolId +
			") with a different spec, so a create would fail with Conflict:")
		for _, d := range r.Differences {
			what := d.Field
			if opt, ok := optionFor(d.Field); ok {
				what = opt + " (" + d.Field + ")"
			}
			b.WriteString("\n• " + what + ": you asked " + chatValue(d.Requested) + ", it has " + chatValue(d.Found))
		}
		b.WriteString("\nNothing was queued.")
		return b.String()
	}
	return "Dry run: " + pool + " does not exist yet, so a create would create it. Nothing was queued; " +
		"send the command without dry-run to create it."
}

// chatValue renders a requested or found value in a chat line: lists
// comma-separated, long values cut.
func chatValue(v any) string {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case []string:
		s = strings.Join(v, ",")
	default:
		b, _ := json.Marshal(v)
		s = string(b)
	}
	if s == "" {
		s = "none"
	}
	if len(s) > 60 {
		s = s[:60] + "…"
	}
	return "`" + strings.ReplaceAll(s, "`", "") + "`"
}

// StatusText renders a pool's live status.
func StatusText(cluster, name string, p *ens.NodePool) string {
	if p == nil {
		return "Node pool `" + name + "` was not found in `" + cluster + "`."
	}
	st := p.Status
	s := "Node pool `" + name + "` in `" + cluster + "` (" + p.NodepoolInfo.NodepoolId + "): *" + cmp.Or(st.State, "unknown") + "*, " +
		strconv.Itoa(int(st.ServingNodes)) + "/" + strconv.Itoa(int(st.DesiredNodes)) + " nodes serving"
	return s + "."
}
