package testkit

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ensnodepool/webhook/pkg/dev/enssim"
	"github.com/ensnodepool/webhook/pkg/dev/mnssim"
	"github.com/ensnodepool/webhook/pkg/ens"
	"github.com/ensnodepool/webhook/pkg/mns"
)

// MNS is an MNS simulator behind an httptest server, with a queue client
// signed with the simulator's key pair.
type MNS struct {
	Server *mnssim.Server
	HTTP   *httptest.Server
	Client *mns.Client
}

// StartMNS starts mnssim.New(cfg) behind an httptest server and makes a
// queue client for it. When the test ends it answers waiting long polls,
// closes the HTTP server and then the simulator, reporting an error from
// the simulator's Close.
func StartMNS(t testing.TB, cfg mnssim.Config) *MNS {
	t.Helper()
	srv, err := mnssim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		srv.CancelPolls()
		hs.Close()
		if err := srv.Close(); err != nil {
			t.Errorf("mnssim Close: %v", err)
		}
	})
	c, err := mns.New(mns.Config{Endpoint: hs.URL,
		Credentials: mns.Credentials{AccessKeyID: cfg.AccessKeyID, AccessKeySecret: cfg.AccessKeySecret}})
	if err != nil {
		t.Fatal(err)
	}
	return &MNS{Server: srv, HTTP: hs, Client: c}
}

// URL is the simulator's base URL, for mns.Config.Endpoint.
func (m *MNS) URL() string { return m.HTTP.URL }

// Inspector is a client of the simulator's inspection API.
func (m *MNS) Inspector() mnssim.Inspector { return mnssim.Inspector{BaseURL: m.HTTP.URL} }

// EnsureQueues creates the named queues with attrs (or checks they exist)
// and returns them in the order named.
func (m *MNS) EnsureQueues(t testing.TB, attrs mns.QueueAttributes, names ...string) []*mns.Queue {
	t.Helper()
	out := make([]*mns.Queue, len(names))
	for i, name := range names {
		if err := m.Client.EnsureQueue(context.Background(), name, attrs); err != nil {
			t.Fatal(err)
		}
		out[i] = m.Client.Queue(name)
	}
	return out
}

// ENS is an ENS simulator behind an httptest server.
type ENS struct {
	Server *enssim.Server
	HTTP   *httptest.Server
	creds  ens.Credentials
}

// StartENS starts enssim.New(cfg) behind an httptest server. When the test
// ends it closes the HTTP server and then the simulator, reporting an
// error from the simulator's Close.
func StartENS(t testing.TB, cfg enssim.Config) *ENS {
	t.Helper()
	srv, err := enssim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		if err := srv.Close(); err != nil {
			t.Errorf("enssim Close: %v", err)
		}
	})
	return &ENS{Server: srv, HTTP: hs,
		creds: ens.Credentials{AccessKeyID: cfg.AccessKeyID, AccessKeySecret: cfg.AccessKeySecret}}
}

// Endpoint is the simulator's host:port, for ens.Config.Endpoint with
// Protocol "HTTP".
func (e *ENS) Endpoint() string { return strings.TrimPrefix(e.HTTP.URL, "http://") }

// Client returns an ENS client for the simulator: cfg with Endpoint,
// Protocol ("HTTP") and Credentials (the simulator's key pair) set.
func (e *ENS) Client(t testing.TB, cfg ens.Config) *ens.Client {
	t.Helper()
	cfg.Endpoint, cfg.Protocol, cfg.Credentials = e.Endpoint(), "HTTP", e.creds
	c, err := ens.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
