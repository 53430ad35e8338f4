package chatops

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ensnodepool/webhook/pkg/callback"
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

// HelpText is the answer to `nodepool help` (and follows a command error).
func HelpText(ps Presets) string {
	var b strings.Builder
	b.WriteString("Usage:\n")
	b.WriteString("`nodepool create <cluster> <name> preset=<preset> size=<n> [type=<ens.x.y>] [image=<m-…>] [vsw=<vsw-…>] [disk=<GiB>] [keypair=<name>]`\n")
	b.WriteString("`nodepool status <cluster> <name>`\n")
	b.WriteString("`nodepool help`\n")
	if names := ps.Names(); len(names) > 0 {
		b.WriteString("Presets:")
		for _, n := range names {
			b.WriteString("\n• `" + n + "`")
			if d := ps[n].Description; d != "" {
				b.WriteString(" — " + d)
			}
		}
	} else {
		b.WriteString("No presets are configured: give image=, vsw=, type= and keypair= yourself.")
	}
	return b.String()
}

// ErrorText renders a command or validation error as chat text. A
// *nodepool.ValidationError lists each field by the option the user typed
// and by its JSON path, e.g. "• size (ScalingGroup.DesiredSize) must be
// between 1 and 100".
func ErrorText(err error) string {
	var ce *CommandError
	if errors.As(err, &ce) {
		return "Sorry, I could not read that: " + ce.Message + "."
	}
	var ve *nodepool.ValidationError
	if errors.As(err, &ve) {
		var b strings.Builder
		b.WriteString("The node pool request is invalid:")
		for _, f := range ve.Fields {
			b.WriteString("\n• ")
			if opt, ok := optionFor(f.Field); ok {
				b.WriteString(opt + " (" + f.Field + ") ")
			} else if f.Field != "" {
				b.WriteString(f.Field + " (from the preset) ")
			}
			b.WriteString(f.Message)
		}
		return b.String()
	}
	return "Sorry, something went wrong."
}

// optionFor maps a JSON path (possibly with an index) to a chat option.
func optionFor(field string) (string, bool) {
	if i := strings.IndexByte(field, '['); i >= 0 {
		field = field[:i]
	}
	opt, ok := fieldOptions[field]
	return opt, ok
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

// StatusText renders a pool's live status.
func StatusText(cluster, name string, p *ens.NodePool) string {
	if p == nil {
		return "Node pool `" + name + "` was not found in `" + cluster + "`."
	}
	st := p.Status
	s := "Node pool `" + name + "` in `" + cluster + "` (" + p.NodepoolInfo.NodepoolId + "): *" + cmpOr(st.State, "unknown") + "*, " +
		strconv.Itoa(int(st.ServingNodes)) + "/" + strconv.Itoa(int(st.DesiredNodes)) + " nodes serving"
	return s + "."
}

// EventTitle is a short title for an event (DingTalk markdown title).
func EventTitle(ev callback.Event) string {
	return "nodepool " + strings.TrimPrefix(ev.Type, "nodepool.") + ": " + ev.Data.Name
}

// EventText renders a callback event as chat text.
func EventText(ev callback.Event) string {
	d := ev.Data
	pool := "Node pool `" + d.Name + "` in `" + d.ClusterId + "`"
	var s string
	switch ev.Type {
	case callback.TypeCreating:
		s = "⏳ " + pool + " is being created"
		if d.NodepoolId != "" {
			s += " (" + d.NodepoolId + ")"
		}
		s += "."
	case callback.TypeActive:
		s = "✅ " + pool + " is active"
		if st := d.Status; st != nil {
			s += ": " + strconv.Itoa(int(st.ServingNodes)) + "/" + strconv.Itoa(int(st.DesiredNodes)) + " nodes serving"
		}
		if d.NodepoolId != "" {
			s += " (" + d.NodepoolId + ")"
		}
		s += "."
	case callback.TypeFailed:
		s = "❌ " + pool + " failed"
	case callback.TypeTimeout:
		s = "⌛ " + pool + " did not become active in time"
	default:
		s = pool + ": " + ev.Type
	}
	if e := d.Error; e != nil && (ev.Type == callback.TypeFailed || ev.Type == callback.TypeTimeout) {
		s += ": " + e.Code
		if e.Message != "" {
			s += " — " + truncate(e.Message, 300)
		}
		s += "."
	}
	return s + " RequestId `" + d.RequestId + "`."
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
