package localstack

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/dev/apicheck"
)

// ErrDemo reports that the demo request did not reach nodepool.active.
var ErrDemo = errors.New("localstack: demo failed")

// Accepted is the webhook's 202 body.
type Accepted struct {
	RequestId, ClusterId, Name, State, StatusUrl string
}

// PostCreate sends a create request as a caller does: it POSTs body to
// baseURL/v1/nodepools signed with Standard Webhooks v1 (secret in whsec_
// form; msgID "" makes a fresh webhook-id) and returns the status and
// response body. (It is the HTTP front door; nodepool.Submit is what the
// webhook does behind it: enqueue.)
func PostCreate(ctx context.Context, hc *http.Client, baseURL, secret, msgID string, body []byte) (int, []byte, error) {
	return post(ctx, hc, strings.TrimRight(baseURL, "/")+"/v1/nodepools", secret, msgID, body)
}

// PostDryRun sends body as a dry run (POST /v1/nodepools?dryRun=true),
// signed as PostCreate signs, and returns the status and response body.
func PostDryRun(ctx context.Context, hc *http.Client, baseURL, secret string, body []byte) (int, []byte, error) {
	return post(ctx, hc, strings.TrimRight(baseURL, "/")+"/v1/nodepools?dryRun=true", secret, "", body)
}

// post POSTs body to url signed with secret (a fresh webhook-id when
// msgID is "").
func post(ctx context.Context, hc *http.Client, url, secret, msgID string, body []byte) (int, []byte, error) {
	signer, err := callback.NewSigner(secret)
	if err != nil {
		return 0, nil, err
	}
	if msgID == "" {
		msgID = "msg_" + randomHex(12)
	}
	h, err := signer.Headers(msgID, time.Now(), body)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, out, err
}

// Request rewrites a create request (e.g. events/create-nodepool.json):
// NodepoolInfo.Name = name and Callback.Url = callbackURL; other members
// are kept as they are.
func Request(template []byte, name, callbackURL string) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(template))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("localstack: request template: %w", err)
	}
	info, _ := m["NodepoolInfo"].(map[string]any)
	if info == nil {
		info = map[string]any{}
	}
	info["Name"] = name
	m["NodepoolInfo"] = info
	m["Callback"] = map[string]any{"Url": callbackURL}
	return json.MarshalIndent(m, "", "  ")
}

// DemoName returns a fresh pool name, so reruns on one data directory
// create new pools.
func DemoName() string {
	return "demo-" + strconv.FormatInt(time.Now().UnixMilli(), 36)
}

// DemoConfig configures Demo.
type DemoConfig struct {
	// URL is the webhook's base URL (Stack.URL). Required.
	URL string
	// WebhookSecret signs the request; CallbackSecret verifies callbacks.
	WebhookSecret, CallbackSecret string
	// Template is the create request (events/create-nodepool.json). Required.
	Template []byte
	// Name is the pool name; default DemoName().
	Name string
	// Out receives one line per step and per callback; nil discards.
	Out io.Writer
	// Check, when set, validates the callbacks against the API document
	// (ReceiverConfig.Check).
	Check *apicheck.Checker
}

// DemoResult is what Demo saw.
type DemoResult struct {
	// Accepted is the 202 body.
	Accepted Accepted
	// Callbacks are the verified callbacks in arrival order.
	Callbacks []Callback
	// Took is from the POST to the final callback.
	Took time.Duration
}

// Demo runs one request end to end: it starts a Receiver, submits the
// template with a fresh name and the receiver's URL, prints each verified
// callback, and returns when the pool is reported active (nil), failed or
// timed out (ErrDemo), or ctx ends.
func Demo(ctx context.Context, cfg DemoConfig) (DemoResult, error) {
	out := cfg.Out
	if out == nil {
		out = io.Discard
	}
	var res DemoResult
	rcv, err := NewReceiver(ReceiverConfig{Secrets: []string{cfg.CallbackSecret}, Check: cfg.Check})
	if err != nil {
		return res, err
	}
	defer rcv.Close()
	name := cmp.Or(cfg.Name, DemoName())
	body, err := Request(cfg.Template, name, rcv.URL())
	if err != nil {
		return res, err
	}
	start := time.Now()
	fmt.Fprintf(out, "demo: callback receiver %s\n", rcv.URL())
	status, resp, err := PostCreate(ctx, nil, cfg.URL, cfg.WebhookSecret, "", body)
	if err != nil {
		return res, fmt.Errorf("%w: POST /v1/nodepools: %v", ErrDemo, err)
	}
	if status != http.StatusAccepted {
		return res, fmt.Errorf("%w: POST /v1/nodepools: %d %s", ErrDemo, status, bytes.TrimSpace(resp))
	}
	_ = json.Unmarshal(resp, &res.Accepted)
	fmt.Fprintf(out, "demo: POST /v1/nodepools Name=%s → %d %s\n", name, status, bytes.TrimSpace(resp))
	for {
		c, err := rcv.Next(ctx)
		if err != nil {
			res.Took = time.Since(start)
			return res, fmt.Errorf("%w: no final callback after %v: %v", ErrDemo, res.Took.Round(time.Millisecond), err)
		}
		res.Callbacks = append(res.Callbacks, c)
		fmt.Fprintf(out, "demo: +%.1fs callback %s\n", time.Since(start).Seconds(), describe(c))
		if c.Event.Data.Name != name {
			continue
		}
		switch c.Event.Type {
		case callback.TypeActive:
			res.Took = time.Since(start)
			return res, nil
		case callback.TypeFailed, callback.TypeTimeout:
			res.Took = time.Since(start)
			return res, fmt.Errorf("%w: %s", ErrDemo, c.Event.Type)
		}
	}
}

// describe renders a callback on one line.
func describe(c Callback) string {
	d := c.Event.Data
	s := fmt.Sprintf("%s webhook-id=%s RequestId=%s ClusterId=%s Name=%s NodepoolId=%s", c.Event.Type, c.ID, d.RequestId, d.ClusterId, d.Name, d.NodepoolId)
	if d.Status != nil {
		if b, err := json.Marshal(d.Status); err == nil {
			s += " Status=" + string(b)
		}
	}
	if d.Error != nil {
		s += fmt.Sprintf(" Error=%s: %s", d.Error.Code, d.Error.Message)
	}
	if c.Duplicate {
		s += " (duplicate delivery)"
	}
	return s
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
