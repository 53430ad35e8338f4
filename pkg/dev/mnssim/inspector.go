package mnssim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Inspector is a client of the inspection API (AdminPrefix) for tests and
// tools: BaseURL is the service's http://host:port.
type Inspector struct {
	BaseURL string
	// Client defaults to http.DefaultClient.
	Client *http.Client
}

func (in Inspector) do(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(in.BaseURL, "/")+AdminPrefix+path, nil)
	if err != nil {
		return err
	}
	c := in.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("mnssim inspect %s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	return json.Unmarshal(b, out)
}

// Queues returns every queue's counts, sorted by name.
func (in Inspector) Queues(ctx context.Context) ([]QueueStats, error) {
	var out struct{ Queues []QueueStats }
	err := in.do(ctx, http.MethodGet, "queues", &out)
	return out.Queues, err
}

// Queue returns one queue's counts.
func (in Inspector) Queue(ctx context.Context, name string) (QueueStats, error) {
	var out QueueStats
	err := in.do(ctx, http.MethodGet, "queues/"+url.PathEscape(name), &out)
	return out, err
}

// Peek returns every message of a queue (visible, in flight and delayed)
// without changing any.
func (in Inspector) Peek(ctx context.Context, name string) ([]PeekedMessage, error) {
	var out struct{ Messages []PeekedMessage }
	err := in.do(ctx, http.MethodGet, "queues/"+url.PathEscape(name)+"/messages", &out)
	return out.Messages, err
}

// Purge deletes every message of a queue and returns how many.
func (in Inspector) Purge(ctx context.Context, name string) (int, error) {
	var out struct{ Deleted int }
	err := in.do(ctx, http.MethodDelete, "queues/"+url.PathEscape(name)+"/messages", &out)
	return out.Deleted, err
}
