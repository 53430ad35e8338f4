package localstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Development values scripts/local falls back to (and prints) when the
// environment has none. They are public: never use them outside a local
// stack.
const (
	// DevWebhookSecret signs requests to the local webhook.
	DevWebhookSecret = "whsec_ZW5zLW5vZGVwb29sLXdlYmhvb2stZGV2LWluYm91bmQ="
	// DevCallbackSecret signs the local stack's callbacks.
	DevCallbackSecret = "whsec_ZW5zLW5vZGVwb29sLXdlYmhvb2stZGV2LW91dGJuZCE="
	// DevAccessKeyID and DevAccessKeySecret are the key pair the local
	// simulators accept.
	DevAccessKeyID     = "LTAI5tDevLocalStack"
	DevAccessKeySecret = "dev-localstack-secret"
	// DevSealKeys seals passwords in the local queues.
	DevSealKeys = "dev1:ZW5zLW5vZGVwb29sLXdlYmhvb2stZGV2LXNlYWxrZXk="
)

// DevKeyPair returns the AccessKey pair the standalone simulators accept:
// ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET through getenv, else the development
// pair, which it then prints to out so that a client can be pointed at it.
func DevKeyPair(getenv func(string) string, out io.Writer, name string) (id, secret string) {
	id, secret = getenv("ALIBABA_CLOUD_ACCESS_KEY_ID"), getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
	if id == "" || secret == "" {
		id, secret = DevAccessKeyID, DevAccessKeySecret
		fmt.Fprintf(out, "%s: ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET unset; accepting the development pair %s / %s\n", name, id, secret)
	}
	return id, secret
}

// Serve serves h on addr until ctx is done or SIGINT/SIGTERM arrives, then
// shuts down gracefully (in-flight requests get up to 10 s; onShutdown, if
// set, runs as the shutdown starts, e.g. to answer pending long polls). It
// prints ready(listening address) to out once it listens.
func Serve(ctx context.Context, addr string, h http.Handler, out io.Writer, ready func(net.Addr) string, onShutdown func()) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	// IdleTimeout exceeds the MNS SDK's 10 s idle keep-alive (the SDK sets MaxIdleConnDuration to 10 s).
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	if onShutdown != nil {
		hs.RegisterOnShutdown(onShutdown)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	fmt.Fprintln(out, ready(ln.Addr()))
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
