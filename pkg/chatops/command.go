package chatops

import (
	"errors"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode"
)

// Verbs of the command grammar.
const (
	VerbCreate = "create"
	VerbStatus = "status"
	VerbHelp   = "help"
)

// Option keys of `nodepool create`, and the request field each sets.
var optionFields = map[string]string{
	"preset":  "",
	"size":    "ScalingGroup.DesiredSize",
	"type":    "ScalingGroup.InstanceTypes",
	"image":   "ScalingGroup.ImageId",
	"vsw":     "ScalingGroup.VswitchIds",
	"disk":    "ScalingGroup.SystemDiskSize",
	"keypair": "ScalingGroup.KeyPairName",
	"charge":  "ScalingGroup.InstanceChargeType",
}

// passwordOptions are the spellings of a password option: chat commands
// cannot carry one (chat history keeps it), so they get PasswordHint.
var passwordOptions = map[string]bool{"password": true, "passwd": true, "pwd": true, "pass": true}

// PasswordHint answers a password typed in chat.
const PasswordHint = "passwords cannot be sent in chat (the chat history would keep them): " +
	"use keypair=<name> with a key pair created in the ENS console"

// optionAliases map forgiving spellings to option keys.
var optionAliases = map[string]string{
	"instancetype": "type", "instancetypes": "type", "types": "type",
	"imageid": "image", "vswitch": "vsw", "vswitchid": "vsw", "vswitchids": "vsw", "vsws": "vsw",
	"desiredsize": "size", "count": "size", "nodes": "size",
	"disksize": "disk", "systemdisksize": "disk", "keypairname": "keypair",
	"chargetype": "charge", "instancechargetype": "charge",
}

// Command is one parsed chat command.
type Command struct {
	// Verb is VerbCreate, VerbStatus or VerbHelp.
	Verb string
	// Cluster and Name are the positional ClusterId and node pool name
	// (create and status).
	Cluster, Name string
	// Options are the key=value options of create, keys lower-case and
	// canonical (see the grammar); values as typed.
	Options map[string]string
	// DryRun asks a create only what it would do (the word dry-run):
	// nothing is queued.
	DryRun bool
}

// dryRunWords are the spellings of create's dry-run flag.
var dryRunWords = map[string]bool{"dry-run": true, "--dry-run": true, "dryrun": true, "--dryrun": true, "dry_run": true}

// CommandError is a command the grammar cannot read; Message is the chat
// text to answer with (the help follows it). When several parts of one
// command are wrong, Problems lists each and Message joins them.
type CommandError struct {
	Message  string
	Problems []string
}

// commandError returns a *CommandError listing problems, or nil if there
// are none.
func commandError(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	return &CommandError{Message: strings.Join(problems, "; "), Problems: problems}
}

// Error implements error.
func (e *CommandError) Error() string { return "chatops: " + e.Message }

// ErrCommand is matched by every *CommandError.
var ErrCommand = errors.New("chatops: unreadable command")

// Is makes errors.Is(err, ErrCommand) true.
func (e *CommandError) Is(target error) bool { return target == ErrCommand }

// MaxCommand bounds the command text in bytes.
const MaxCommand = 2048

// ParseCommand reads a chat message as a command. The grammar is
//
//	[/]nodepool create <cluster> <name> [preset=<p>] [size=<n>] [type=<t>[,<t>…]]
//	                   [image=<m-…>] [vsw=<vsw-…>[,<vsw-…>…]] [disk=<GiB>] [keypair=<k>]
//	                   [charge=PostPaid|PrePaid] [dry-run]
//	[/]nodepool status <cluster> <name>
//	[/]nodepool help
//
// and it forgives: keywords in any case, any run of spaces (also tabs,
// newlines, no-break and full-width spaces), @mentions anywhere (DingTalk,
// Feishu "@_user_1", Slack's escaped "<@U024BE7LH>" and "<!here>"), a
// missing "nodepool" word (a Slack /nodepool
// command's text), options in any order, "--key=value", keys in any case
// and common aliases (instancetype, vswitch, count, …), dry-run anywhere
// (also --dry-run, dryrun). An empty message
// is help. It never panics; errors are *CommandError with chat text.
func ParseCommand(text string) (Command, error) {
	if len(text) > MaxCommand {
		return Command{}, &CommandError{Message: "the command is too long"}
	}
	words := commandWords(text)
	if len(words) == 0 {
		return Command{Verb: VerbHelp}, nil
	}
	verb, ok := verbs[strings.ToLower(words[0])]
	switch {
	case !ok:
		return Command{}, &CommandError{Message: "unknown command " + quote(words[0]) + ": use create, status or help"}
	case verb == VerbHelp:
		return Command{Verb: VerbHelp}, nil
	}
	cmd := Command{Verb: verb}
	var (
		pos      []string
		problems []string // every wrong part, not just the first
	)
	for _, w := range words[1:] {
		if dryRunWords[strings.ToLower(w)] {
			if verb == VerbCreate {
				cmd.DryRun = true
			} else {
				problems = append(problems, verb+" takes no dry-run: only create does")
			}
			continue
		}
		k, v, isOpt := strings.Cut(w, "=")
		if !isOpt {
			pos = append(pos, w)
		} else if p := cmd.option(k, v); p != "" {
			problems = append(problems, p)
		}
	}
	switch {
	case len(pos) < 2:
		problems = append(problems, verb+" needs a cluster id and a node pool name: nodepool "+verb+" <cluster> <name>")
	case len(pos) > 2:
		problems = append(problems, "unexpected "+quote(pos[2])+": options are key=value")
	}
	if len(pos) >= 2 {
		cmd.Cluster, cmd.Name = pos[0], pos[1]
	}
	// On error cmd still holds what could be read (verb, cluster, name and
	// the well-formed options), so the handler can report the problems
	// that only building and validating the request would find as well.
	return cmd, commandError(problems)
}

// verbs maps the spellings of each verb to it.
var verbs = map[string]string{
	"create": VerbCreate, "new": VerbCreate, "add": VerbCreate,
	"status": VerbStatus, "get": VerbStatus, "show": VerbStatus, "describe": VerbStatus,
	"help": VerbHelp, "?": VerbHelp, "-h": VerbHelp, "--help": VerbHelp,
}

// slackMention matches Slack's escaped mentions in message text: a user
// "<@U024BE7LH>" or "<@U024BE7LH|bob>", and the special "<!here>",
// "<!channel>", "<!subteam^S012|@team>"
// (https://api.slack.com/reference/surfaces/formatting#retrieving-messages).
var slackMention = regexp.MustCompile(`<[@!][^<>]*>`)

// commandWords splits a message into words (any Unicode space, and
// zero-width spaces) without the @mentions, wherever they stand, and the
// leading "nodepool". A word that starts with "@" is a mention (no cluster
// id, pool name or option does).
func commandWords(text string) []string {
	text = slackMention.ReplaceAllString(text, " ")
	words := strings.FieldsFunc(text, func(r rune) bool { return unicode.IsSpace(r) || r == '\u200b' })
	words = slices.DeleteFunc(words, func(w string) bool { return strings.HasPrefix(w, "@") })
	if len(words) > 0 {
		switch strings.ToLower(words[0]) {
		case "nodepool", "/nodepool", "nodepools", "/nodepools":
			words = words[1:]
		}
	}
	return words
}

// option sets the option k=v of a create, or returns what is wrong with
// it.
func (c *Command) option(k, v string) (problem string) {
	if c.Verb != VerbCreate {
		// Name the option, never echo its value: it may be a secret
		// typed by mistake (password=…).
		return "status takes no options (" + quote(k) + "=…)"
	}
	k = strings.ToLower(strings.TrimLeft(k, "-"))
	if a, ok := optionAliases[k]; ok {
		k = a
	}
	if passwordOptions[k] {
		return PasswordHint
	}
	if _, ok := optionFields[k]; !ok {
		return "unknown option " + quote(k) + " (known: " + strings.Join(optionNames(), ", ") + ")"
	}
	if v == "" {
		return "option " + k + " needs a value (" + k + "=…)"
	}
	if _, dup := c.Options[k]; dup {
		return "option " + k + " is given twice"
	}
	if c.Options == nil {
		c.Options = map[string]string{}
	}
	c.Options[k] = v
	return ""
}

func optionNames() []string {
	out := make([]string, 0, len(optionFields))
	for k := range optionFields {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// quote shows a user's word in an answer, shortened and printable.
func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	s = strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) || r == '`' {
			return -1
		}
		return r
	}, s)
	return "`" + s + "`"
}
