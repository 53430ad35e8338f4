// Package caller is the policy model of the CALLERS setting: who may create
// which node pools. A Caller is identified by the Standard Webhooks secret
// its requests verify with (pkg/intake), by the chat identities its Chat
// list names (pkg/chatops), or by the signature of an envelope on the
// requests queue (pkg/worker, EnvelopeKeys); its limits are checked against
// each request with Caller.Check, which names the rule and the field a
// request broke, and its CallbackHosts again at every callback attempt
// (AllowsCallback).
//
// Without CALLERS the service runs in simple mode: WEBHOOK_SECRET alone,
// one caller allowed everything (a nil *Set).
//
// Every decision is written as one JSON log record "msg":"audit" (Audit).
package caller

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/ensnodepool/webhook/pkg/nodepool"
)

// Caller is one entry of CALLERS. Clusters is required; every other limit,
// when absent, does not restrict.
type Caller struct {
	// Id names the caller in envelopes, tracking messages and audit
	// records: 1-64 characters of [a-z0-9_.-], starting with a letter or
	// digit.
	Id string
	// Secrets are the caller's Standard Webhooks secrets ("whsec_<base64>",
	// 24-64 bytes; at least one, several for rotation). They identify the
	// caller at the HTTP door and authenticate its envelopes on the
	// requests queue (EnvelopeKeys): the first signs the envelopes the
	// webhook queues for it, any of them verifies.
	Secrets []string `json:",omitempty"`
	// CallbackSecret, when set, signs this caller's callbacks instead of
	// CALLBACK_SECRET, and only it.
	CallbackSecret string `json:",omitempty"`
	// Clusters are globs of the ClusterIds the caller may create in and
	// read the status of; "*" means every cluster.
	Clusters []string
	// MaxDesiredSize caps ScalingGroup.DesiredSize; 0 does not restrict.
	MaxDesiredSize int32 `json:",omitempty"`
	// InstanceTypes are globs every requested instance type must match.
	InstanceTypes []string `json:",omitempty"`
	// ChargeTypes list the InstanceChargeType values allowed; a request
	// must then name one.
	ChargeTypes []string `json:",omitempty"`
	// CallbackHosts are the places Callback.Url may point to: a host glob,
	// optionally with ":<port>" or ":*". Without a port an entry allows
	// the scheme's default port only (443 for https, 80 for http).
	CallbackHosts []string `json:",omitempty"`
	// AllowPassword, when false, refuses requests with a Password (a
	// KeyPairName is then required). Absent allows passwords.
	AllowPassword *bool `json:",omitempty"`
	// Chat names the chat identities acting as this caller:
	// "slack:<team_id>/<user_id>", "slack:<team_id>/*",
	// "dingtalk:<senderStaffId>", "feishu:<open_id>".
	Chat []string `json:",omitempty"`
}

// Set is a parsed, validated CALLERS list. A nil *Set is simple mode.
type Set struct {
	list []*Caller
	byID map[string]*Caller
	chat map[string]*Caller // exact identity or "slack:T/*" → caller
}

// Chat platforms as they appear in Caller.Chat.
const (
	PlatformSlack    = "slack"
	PlatformDingTalk = "dingtalk"
	PlatformFeishu   = "feishu"
)

// Secret sizes (the Standard Webhooks spec: 24 to 64 random bytes).
const (
	minSecretBytes = 24
	maxSecretBytes = 64
)

// ErrConfig is matched by every Parse and Load error.
var ErrConfig = errors.New("invalid CALLERS")

var (
	reID        = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)
	reGlob      = regexp.MustCompile(`^[A-Za-z0-9_.*-]{1,128}$`)
	reHostRule  = regexp.MustCompile(`^[A-Za-z0-9_.*-]{1,128}(:([0-9]{1,5}|\*))?$`)
	reChatIdent = regexp.MustCompile(`^[A-Za-z0-9_@.+=:-]{1,128}$`)
)

// bom is the UTF-8 byte order mark some editors put before JSON.
const bom = "\uFEFF"

// Parse decodes and validates a CALLERS list (pkg/config reads the
// setting: inline JSON or a file). A byte order mark is skipped; one object
// instead of a list is refused with "want a list". Every invalid entry is
// reported at once, by index and field; no error ever contains a secret
// (nor a JSON fragment that could hold one).
func Parse(data []byte) (*Set, error) {
	data = bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(data), []byte(bom)))
	if len(data) > 0 && data[0] == '{' {
		return nil, fmt.Errorf("%w: want a list of caller objects ([{…}, …]), not one object", ErrConfig)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var list []*Caller
	if err := dec.Decode(&list); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrConfig, jsonReason(err))
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the list", ErrConfig)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%w: the list is empty (leave CALLERS unset for simple mode)", ErrConfig)
	}
	p := parser{set: &Set{byID: map[string]*Caller{}, chat: map[string]*Caller{}}, keys: map[string]int{}, chatAt: map[string]int{}}
	for i, c := range list {
		if c == nil {
			p.errs = append(p.errs, fmt.Errorf("CALLERS[%d]: must be an object", i))
			continue
		}
		p.id(i, c)
		p.secrets(i, c)
		p.limits(i, c)
		p.chatIdentities(i, c)
		p.set.list = append(p.set.list, c)
	}
	if err := errors.Join(p.errs...); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return p.set, nil
}

// parser checks the entries of one CALLERS list, collecting every
// problem, and builds its Set.
type parser struct {
	set    *Set
	keys   map[string]int // decoded secret → caller index
	chatAt map[string]int // chat identity → caller index
	errs   []error
}

// add records a problem of CALLERS[i].field.
func (p *parser) add(i int, field, msg string) {
	p.errs = append(p.errs, fmt.Errorf("CALLERS[%d].%s: %s", i, field, msg))
}

// id checks the Id of CALLERS[i] and indexes it.
func (p *parser) id(i int, c *Caller) {
	if !reID.MatchString(c.Id) {
		p.add(i, "Id", "want 1-64 characters of [a-z0-9_.-] starting with a letter or digit")
	} else if _, dup := p.set.byID[c.Id]; dup {
		p.add(i, "Id", strconv.Quote(c.Id)+" is used twice")
	} else {
		p.set.byID[c.Id] = c
	}
}

// limits checks the policy limits of CALLERS[i].
func (p *parser) limits(i int, c *Caller) {
	if len(c.Clusters) == 0 {
		p.add(i, "Clusters", `is required (write ["*"] to allow every cluster)`)
	}
	globs := func(field string, gs []string) {
		for j, g := range gs {
			if !reGlob.MatchString(g) {
				p.add(i, field+"["+strconv.Itoa(j)+"]", "want a name or a glob of [A-Za-z0-9_.-] and *")
			}
		}
	}
	globs("Clusters", c.Clusters)
	globs("InstanceTypes", c.InstanceTypes)
	for j, h := range c.CallbackHosts {
		if !reHostRule.MatchString(h) {
			p.add(i, "CallbackHosts["+strconv.Itoa(j)+"]", `want a host name or glob of [A-Za-z0-9_.-] and *, optionally with ":<port>" or ":*"`)
		}
	}
	if c.MaxDesiredSize < 0 {
		p.add(i, "MaxDesiredSize", "must not be negative (0 or absent does not restrict)")
	}
	for j, ct := range c.ChargeTypes {
		if ct != "PostPaid" && ct != "PrePaid" {
			p.add(i, "ChargeTypes["+strconv.Itoa(j)+"]", "want PostPaid or PrePaid")
		}
	}
}

// secrets checks the Secrets (each identifies one caller) and the
// CallbackSecret of CALLERS[i].
func (p *parser) secrets(i int, c *Caller) {
	if len(c.Secrets) == 0 {
		p.add(i, "Secrets", "at least one is required: it authenticates the caller at the HTTP door and its envelopes "+
			"on the requests queue (a caller acting only through chat needs one too; it need not be given to anyone)")
	}
	for j, sec := range c.Secrets {
		f := "Secrets[" + strconv.Itoa(j) + "]"
		key, err := ParseSecret(sec)
		if err != nil {
			p.add(i, f, err.Error())
			continue
		}
		if k, dup := p.keys[string(key)]; dup {
			p.add(i, f, "is also a secret of CALLERS["+strconv.Itoa(k)+"]: a secret identifies one caller")
			continue
		}
		p.keys[string(key)] = i
	}
	if c.CallbackSecret != "" {
		if _, err := ParseSecret(c.CallbackSecret); err != nil {
			p.add(i, "CallbackSecret", err.Error())
		}
	}
}

// chatIdentities checks the Chat list of CALLERS[i] (each identity acts
// as one caller) and indexes it.
func (p *parser) chatIdentities(i int, c *Caller) {
	for j, id := range c.Chat {
		f := "Chat[" + strconv.Itoa(j) + "]"
		key, err := chatKey(id)
		if err != nil {
			p.add(i, f, err.Error())
			continue
		}
		if k, dup := p.chatAt[key]; dup {
			p.add(i, f, "is also listed by CALLERS["+strconv.Itoa(k)+"]: a chat identity acts as one caller")
			continue
		}
		p.chatAt[key] = i
		p.set.chat[key] = c
	}
}

// jsonReason describes a decoding error without quoting the input.
func jsonReason(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "not JSON (unexpected end)"
	case errors.As(err, &se):
		return "not JSON (syntax error at byte " + strconv.FormatInt(se.Offset, 10) + ")"
	case errors.As(err, &te):
		return "want a list of objects; " + cmp.Or(te.Field, "the value") + " has the wrong type (" + te.Value + ")"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// The name is part of the value: quoted only when it looks like a
		// field name, never when it could be a secret pasted as a key.
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		if reFieldName.MatchString(name) {
			return "unknown field " + strconv.Quote(name)
		}
		return "an unknown field"
	}
	return "want a JSON list of caller objects"
}

// reFieldName is what an unknown field name may look like to be quoted in
// an error.
var reFieldName = regexp.MustCompile(`^[A-Za-z]{1,32}$`)

// ParseSecret decodes a "whsec_<base64>" secret of 24 to 64 bytes. The
// error never contains the secret.
func ParseSecret(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return nil, errors.New(`want "whsec_" and base64`)
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, errors.New(`want "whsec_" and base64`)
	}
	if len(key) < minSecretBytes || len(key) > maxSecretBytes {
		return nil, fmt.Errorf("%d bytes, want %d to %d", len(key), minSecretBytes, maxSecretBytes)
	}
	return key, nil
}

// chatKey validates a Chat entry and returns its lookup key.
func chatKey(id string) (string, error) {
	platform, rest, ok := strings.Cut(id, ":")
	bad := errors.New(`want "slack:<team>/<user>", "slack:<team>/*", "dingtalk:<staffId>" or "feishu:<open_id>"`)
	if !ok {
		return "", bad
	}
	switch platform {
	case PlatformSlack:
		team, user, ok := strings.Cut(rest, "/")
		if !ok || !reChatIdent.MatchString(team) || (user != "*" && !reChatIdent.MatchString(user)) {
			return "", bad
		}
	case PlatformDingTalk, PlatformFeishu:
		if !reChatIdent.MatchString(rest) {
			return "", bad
		}
	default:
		return "", bad
	}
	return id, nil
}

// Callers returns the callers in CALLERS order.
func (s *Set) Callers() []*Caller { return slices.Clone(s.list) }

// Lookup returns the caller named id.
func (s *Set) Lookup(id string) (*Caller, bool) {
	if s == nil {
		return nil, false
	}
	c, ok := s.byID[id]
	return c, ok
}

// ByChat returns the caller whose Chat list names the identity: for Slack
// the exact "team/user", else the team's "team/*"; for DingTalk the staff
// id; for Feishu the open_id.
func (s *Set) ByChat(platform, team, user string) (*Caller, bool) {
	if s == nil || user == "" {
		return nil, false
	}
	if platform == PlatformSlack {
		if team == "" {
			return nil, false
		}
		if c, ok := s.chat[platform+":"+team+"/"+user]; ok {
			return c, true
		}
		c, ok := s.chat[platform+":"+team+"/*"]
		return c, ok
	}
	c, ok := s.chat[platform+":"+user]
	return c, ok
}

// ChatOn reports whether a caller maps an identity of platform, and names
// the first such entry ("CALLERS[1].Chat[0]"); false for a nil Set.
func (s *Set) ChatOn(platform string) (field string, ok bool) {
	if s == nil {
		return "", false
	}
	for i, c := range s.list {
		for j, id := range c.Chat {
			if strings.HasPrefix(id, platform+":") {
				return "CALLERS[" + strconv.Itoa(i) + "].Chat[" + strconv.Itoa(j) + "]", true
			}
		}
	}
	return "", false
}

// CallbackSecrets maps the Id of every caller with a CallbackSecret to it,
// for the callback sender.
func (s *Set) CallbackSecrets() map[string]string {
	if s == nil {
		return nil
	}
	m := map[string]string{}
	for _, c := range s.list {
		if c.CallbackSecret != "" {
			m[c.Id] = c.CallbackSecret
		}
	}
	return m
}

// Match reports whether name matches glob, where "*" matches any run of
// characters (including none) and everything else matches itself,
// case-insensitively.
func Match(glob, name string) bool {
	glob, name = strings.ToLower(glob), strings.ToLower(name)
	// Iterative wildcard matching with backtracking to the last star.
	gi, ni, star, mark := 0, 0, -1, 0
	for ni < len(name) {
		switch {
		case gi < len(glob) && glob[gi] == '*':
			star, mark = gi, ni
			gi++
		case gi < len(glob) && glob[gi] == name[ni]:
			gi++
			ni++
		case star >= 0:
			gi = star + 1
			mark++
			ni = mark
		default:
			return false
		}
	}
	for gi < len(glob) && glob[gi] == '*' {
		gi++
	}
	return gi == len(glob)
}

func matchAny(globs []string, name string) bool {
	for _, g := range globs {
		if Match(g, name) {
			return true
		}
	}
	return false
}

// MayUseCluster reports whether the caller may create in, and read the
// status of, clusterID.
func (c *Caller) MayUseCluster(clusterID string) bool { return matchAny(c.Clusters, clusterID) }

// ErrForbidden is matched by every *DeniedError.
var ErrForbidden = errors.New("forbidden by the caller's policy")

// DeniedError is a request outside its caller's policy: the Rule (the
// CALLERS field) and the request Field it broke. Its text names nothing of
// any other caller.
type DeniedError struct {
	// Caller is the caller's Id.
	Caller string
	// Rule is the CALLERS field that refused, e.g. "MaxDesiredSize".
	Rule string
	// Field is the request's JSON path, e.g. "ScalingGroup.DesiredSize".
	Field string
	// Message says what the caller may do, e.g. "at most 10 for this caller".
	Message string
}

// Error implements error: "<Field>: <Message> (rule <Rule>)".
func (e *DeniedError) Error() string {
	return e.Field + ": " + e.Message + " (rule " + e.Rule + ")"
}

// Is makes errors.Is(err, ErrForbidden) true.
func (e *DeniedError) Is(target error) bool { return target == ErrForbidden }

// Check returns a *DeniedError for the first rule req breaks, in the
// order Clusters, MaxDesiredSize, InstanceTypes, ChargeTypes,
// AllowPassword, CallbackHosts; nil when req is inside the policy. req is
// a decoded request (the password in clear, as the webhook and the worker
// after unsealing see it).
func (c *Caller) Check(req *nodepool.Request) error {
	deny := func(rule, field, msg string) error {
		return &DeniedError{Caller: c.Id, Rule: rule, Field: field, Message: msg}
	}
	if !c.MayUseCluster(req.ClusterId) {
		return deny("Clusters", "ClusterId", "not a cluster this caller may create in")
	}
	sg := &req.ScalingGroup
	if c.MaxDesiredSize > 0 && sg.DesiredSize == 0 {
		// ENS documents no size for a pool created without DesiredSize
		// (https://www.alibabacloud.com/help/en/ens/developer-reference/api-ens-2017-11-10-createclusternodepool):
		// the cap assumes none and wants the size stated.
		return deny("MaxDesiredSize", "ScalingGroup.DesiredSize", "required for this caller (at most "+
			strconv.Itoa(int(c.MaxDesiredSize))+"): the size ENS gives a pool without one is not documented")
	}
	if c.MaxDesiredSize > 0 && sg.DesiredSize > c.MaxDesiredSize {
		return deny("MaxDesiredSize", "ScalingGroup.DesiredSize", "at most "+strconv.Itoa(int(c.MaxDesiredSize))+" for this caller")
	}
	if len(c.InstanceTypes) > 0 {
		for i, t := range sg.InstanceTypes {
			if !matchAny(c.InstanceTypes, t) {
				return deny("InstanceTypes", "ScalingGroup.InstanceTypes["+strconv.Itoa(i)+"]",
					"must match "+strings.Join(c.InstanceTypes, ", ")+" for this caller")
			}
		}
	}
	if len(c.ChargeTypes) > 0 && !slices.Contains(c.ChargeTypes, sg.InstanceChargeType) {
		return deny("ChargeTypes", "ScalingGroup.InstanceChargeType", "must be "+strings.Join(c.ChargeTypes, " or ")+" for this caller")
	}
	if c.AllowPassword != nil && !*c.AllowPassword && sg.Password != "" {
		return deny("AllowPassword", "ScalingGroup.Password", "not allowed for this caller: use KeyPairName")
	}
	if req.Callback != nil && req.Callback.Url != "" && req.Callback.Format == "" && !c.AllowsCallback(req.Callback.Url) {
		return deny("CallbackHosts", "Callback.Url", "host and port must match "+strings.Join(c.CallbackHosts, ", ")+" for this caller")
	}
	return nil
}

// AllowsCallback reports whether the caller's Standard Webhooks events may
// be sent to rawURL: always without CallbackHosts; else when one entry
// matches its host and port (an entry without a port matches the
// scheme's default port only). The intake, the worker and the callback
// sender (every attempt, redriven ones included) all apply it.
func (c *Caller) AllowsCallback(rawURL string) bool {
	if len(c.CallbackHosts) == 0 {
		return true
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() == "" {
		return false
	}
	port := u.Port()
	if port == "" {
		port = defaultPorts[strings.ToLower(u.Scheme)]
	}
	for _, rule := range c.CallbackHosts {
		host, want, hasPort := strings.Cut(rule, ":")
		if !hasPort {
			want = defaultPorts[strings.ToLower(u.Scheme)]
		}
		if Match(host, u.Hostname()) && (want == "*" || samePort(want, port)) {
			return true
		}
	}
	return false
}

// samePort reports whether two decimal ports are the same number.
func samePort(a, b string) bool {
	x, errA := strconv.Atoi(a)
	y, errB := strconv.Atoi(b)
	return errA == nil && errB == nil && x == y
}

// defaultPorts are the ports a URL without one uses.
var defaultPorts = map[string]string{"https": "443", "http": "80"}

// EnvelopeKeys returns the keys the caller's envelopes on the requests
// queue are signed with (nodepool.SignedEnvelope): one per Secret, in
// order, so the first signs and any verifies. Invalid secrets (refused by
// Parse) are skipped.
func (c *Caller) EnvelopeKeys() [][]byte {
	var keys [][]byte
	for _, s := range c.Secrets {
		if k, err := ParseSecret(s); err == nil {
			keys = append(keys, nodepool.EnvelopeKey(k))
		}
	}
	return keys
}
