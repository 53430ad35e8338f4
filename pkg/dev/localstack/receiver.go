package localstack

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/dev/apicheck"
	"github.com/ensnodepool/webhook/pkg/nodepool"
	"github.com/ensnodepool/webhook/pkg/termtext"
)

// Callback is one callback a Receiver accepted (signature verified).
type Callback struct {
	// ID is the webhook-id (stable across retries of one event).
	ID string
	// Event is the decoded body.
	Event callback.Event
	// Duplicate reports that an earlier delivery had the same ID.
	Duplicate bool
	// At is when it arrived.
	At time.Time
}

// ReceiverConfig configures a Receiver.
type ReceiverConfig struct {
	// Addr is where it listens, a loopback host:port; default 127.0.0.1 on
	// a free port.
	Addr string
	// Secrets verify the Standard Webhooks signatures (whsec_…, several
	// during a rotation: CALLBACK_SECRET). Required.
	Secrets []string
	// CallerSecrets are further callback secrets by caller Id (each
	// caller's CallbackSecret of CALLERS), tried in Id order after Secrets.
	CallerSecrets map[string]string
	// Print, when set, receives one line per POST: "receiver: POST <path>
	// <body>", with " (signature verified)", " (signature verified with
	// caller <Id>'s CallbackSecret)" or " (signature NOT verified: <why>)"
	// after the path when the request is signed.
	Print io.Writer
	// AcceptAll answers 200 to every POST, signed or not: a stand-in for a
	// Slack response_url or any callback URL that only prints. Otherwise a
	// POST without a valid signature is refused with 401 and counted in
	// Rejected.
	AcceptAll bool
	// Check, when set, validates every POST against the webhook of its
	// event type in the API document (apicheck.Checker.Receiver) before
	// the receiver verifies and records it. The tests' kit sets it
	// (testkit.NewReceiver).
	Check *apicheck.Checker
	// Feishu makes it also stand in for Feishu's open API (point
	// FEISHU_API_BASE at it): it issues a tenant access token for any app
	// and answers replies with success, so a Feishu command's replies are
	// printed like any other POST.
	Feishu bool
}

// Receiver is a callback endpoint on a loopback port that verifies
// Standard Webhooks signatures with pkg/callback, answers 200 to what it
// accepts and records the verified callbacks.
type Receiver struct {
	cfg       ReceiverConfig
	verifiers []namedVerifier
	ln        net.Listener
	srv       *http.Server
	done      chan struct{}

	mu       sync.Mutex
	seen     map[string]bool
	all      []Callback
	next     int
	rejected int
	notify   chan struct{} // closed and replaced on every arrival
}

// namedVerifier is one set of secrets and what the printed line says when
// it verifies.
type namedVerifier struct {
	note string
	v    *callback.Verifier
}

// NewReceiver listens on cfg.Addr and serves until Close.
func NewReceiver(cfg ReceiverConfig) (*Receiver, error) {
	addr := cmp.Or(cfg.Addr, "127.0.0.1:0")
	host, _, err := net.SplitHostPort(addr)
	if ip, perr := netip.ParseAddr(host); err != nil || perr != nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("%w: receiver address %q: want a loopback host:port such as 127.0.0.1:9300", ErrConfig, addr)
	}
	if len(cfg.Secrets) == 0 {
		return nil, fmt.Errorf("%w: receiver: at least one callback secret is required", ErrConfig)
	}
	r := &Receiver{cfg: cfg, done: make(chan struct{}), seen: map[string]bool{}, notify: make(chan struct{})}
	if err := r.addVerifier(" (signature verified)", cfg.Secrets...); err != nil {
		return nil, err
	}
	for _, id := range slices.Sorted(maps.Keys(cfg.CallerSecrets)) {
		if err := r.addVerifier(" (signature verified with caller "+id+"'s CallbackSecret)", cfg.CallerSecrets[id]); err != nil {
			return nil, err
		}
	}
	if r.ln, err = net.Listen("tcp", addr); err != nil {
		return nil, err
	}
	var h http.Handler = http.HandlerFunc(r.serve)
	if cfg.Check != nil {
		h = cfg.Check.Receiver(h)
	}
	r.srv = &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(r.done)
		_ = r.srv.Serve(r.ln)
	}()
	return r, nil
}

func (r *Receiver) addVerifier(note string, secrets ...string) error {
	v, err := callback.NewVerifier(callback.VerifierConfig{Secrets: secrets})
	if err != nil {
		return err
	}
	r.verifiers = append(r.verifiers, namedVerifier{note, v})
	return nil
}

// Addr is the host:port it listens on.
func (r *Receiver) Addr() string { return r.ln.Addr().String() }

// URL is the callback URL to put in requests.
func (r *Receiver) URL() string { return "http://" + r.Addr() + "/callback" }

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, 1<<20))
	if err != nil {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if r.cfg.Feishu {
		if note, answer, ok := feishuAnswer(req.URL.Path); ok {
			r.print(req, note, body)
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			_, _ = w.Write(answer)
			return
		}
	}
	note, verified := r.verify(body, req.Header)
	r.print(req, note, body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !verified && !r.cfg.AcceptAll {
		r.rejected++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if verified {
		var ev callback.Event
		if err := json.Unmarshal(body, &ev); err == nil {
			r.record(req.Header.Get(callback.HeaderID), ev)
		} else if !r.cfg.AcceptAll {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
	}
	w.WriteHeader(http.StatusOK)
}

// print writes the line of one POST: its path, note and body with every
// secret masked (printable).
func (r *Receiver) print(req *http.Request, note string, body []byte) {
	if r.cfg.Print == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// Path and body are the sender's: escaped for the terminal.
	fmt.Fprintf(r.cfg.Print, "receiver: POST %s%s %s\n", termtext.Escape(req.URL.Path), note,
		termtext.Escape(printable(body, req.Header.Get("Content-Type"))))
}

// printable is body as the receiver prints it: JSON with the value of
// every member that names a secret (secretName) masked, at any depth and
// inside strings that hold JSON; a form likewise; anything else only by
// its size, since a secret in it could not be found.
func printable(body []byte, contentType string) string {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return ""
	}
	if out, ok := nodepool.RedactJSONFunc(body, secretName); ok {
		return string(out)
	}
	if mt, _, _ := mime.ParseMediaType(contentType); mt == "application/x-www-form-urlencoded" {
		if form, err := url.ParseQuery(string(body)); err == nil {
			for k := range form {
				if secretName(k) {
					form[k] = []string{nodepool.Mask}
				}
			}
			return form.Encode()
		}
	}
	return fmt.Sprintf("(%d bytes of %s, not shown)", len(body), cmp.Or(contentType, "unknown type"))
}

// secretName reports whether a member or form field name names a secret:
// anything called a secret, token, password, signature or private, access
// or encryption key (app_secret, tenant_access_token, the Slack form's
// token, encrypt_key, AccessKeySecret, sign, …), in any case and with or
// without '-', '_' and '.'.
func secretName(name string) bool {
	n := strings.ToLower(strings.NewReplacer("-", "", "_", "", ".", "").Replace(name))
	if n == "sign" || n == "pwd" {
		return true
	}
	for _, w := range []string{"secret", "token", "password", "passwd", "signature", "encrypt", "accesskey", "privatekey", "apikey"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// Feishu open API paths the receiver answers with Config.Feishu
// (https://open.feishu.cn/document/server-docs/authentication-management/access-token/tenant_access_token_internal,
// https://open.feishu.cn/document/server-docs/im-v1/message/reply).
const (
	feishuTokenPath   = "/open-apis/auth/v3/tenant_access_token/internal"
	feishuReplyPrefix = "/open-apis/im/v1/messages/"
)

// feishuAnswer is the answer to a Feishu open API call, and the note
// printed with it; ok is false for any other path.
func feishuAnswer(path string) (note string, answer []byte, ok bool) {
	switch {
	case path == feishuTokenPath:
		tok := make([]byte, 12)
		_, _ = rand.Read(tok)
		answer, _ = json.Marshal(map[string]any{"code": 0, "msg": "ok", "tenant_access_token": "t-local-" + hex.EncodeToString(tok), "expire": 7200})
		return " (Feishu tenant access token issued)", answer, true
	case strings.HasPrefix(path, feishuReplyPrefix) && strings.HasSuffix(path, "/reply"):
		return " (Feishu reply)", []byte(`{"code":0,"msg":"success","data":{}}`), true
	}
	return "", nil, false
}

// verify tries the verifiers in order and returns the note of the first
// that accepts the signature, else why the first refused it ("" and
// false for an unsigned request).
func (r *Receiver) verify(body []byte, h http.Header) (note string, ok bool) {
	if h.Get(callback.HeaderSignature) == "" {
		return "", false
	}
	for i, nv := range r.verifiers {
		err := nv.v.Verify(body, h)
		if err == nil {
			return nv.note, true
		}
		if i == 0 {
			note = " (signature NOT verified: " + err.Error() + ")"
		}
	}
	return note, false
}

// record keeps one verified callback and wakes Next; r.mu is held.
func (r *Receiver) record(id string, ev callback.Event) {
	r.all = append(r.all, Callback{ID: id, Event: ev, Duplicate: r.seen[id], At: time.Now()})
	r.seen[id] = true
	close(r.notify)
	r.notify = make(chan struct{})
}

// Next returns the next callback not yet returned by Next, waiting for it
// until ctx ends.
func (r *Receiver) Next(ctx context.Context) (Callback, error) {
	for {
		r.mu.Lock()
		if r.next < len(r.all) {
			c := r.all[r.next]
			r.next++
			r.mu.Unlock()
			return c, nil
		}
		ch := r.notify
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return Callback{}, ctx.Err()
		}
	}
}

// Received returns every accepted callback so far, duplicates included.
func (r *Receiver) Received() []Callback {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Callback(nil), r.all...)
}

// Rejected counts requests refused for a missing or bad signature.
func (r *Receiver) Rejected() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rejected
}

// Close stops the receiver and waits for its goroutine.
func (r *Receiver) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := r.srv.Shutdown(ctx)
	<-r.done
	return err
}
