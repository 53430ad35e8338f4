// Command enssim runs the ENS-compatible API service (pkg/enssim) on its own.
//
//	go run ./scripts/enssim -addr 127.0.0.1:9200 -data .localstack/ens -provision 20s
//
// It accepts the AccessKey pair in ALIBABA_CLOUD_ACCESS_KEY_ID and
// ALIBABA_CLOUD_ACCESS_KEY_SECRET, or a printed development pair when they
// are unset, prints a line starting with "ready" once it listens, and shuts
// down gracefully on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ensnodepool/webhook/pkg/enssim"
)

// Development credentials used when the environment has none.
const (
	devAccessKeyID     = "LTAI5tDevEnsSimulator"
	devAccessKeySecret = "dev-ens-simulator-secret"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "enssim:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("enssim", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9200", "listen address")
	data := fs.String("data", "", "state directory (bbolt); empty keeps state in memory")
	provision := fs.Duration("provision", 20*time.Second, "time a new node pool takes to become active")
	verbose := fs.Bool("v", false, "log every refused or failed call")
	if err := fs.Parse(args); err != nil {
		return err
	}
	id, secret := os.Getenv("ALIBABA_CLOUD_ACCESS_KEY_ID"), os.Getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
	if id == "" || secret == "" {
		id, secret = devAccessKeyID, devAccessKeySecret
		fmt.Printf("enssim: ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET unset; accepting dev key pair %s / %s\n", id, secret)
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	srv, err := enssim.New(enssim.Config{
		AccessKeyID:     id,
		AccessKeySecret: secret,
		Dir:             *data,
		ProvisionTime:   *provision,
		Logger:          logger,
	})
	if err != nil {
		return err
	}
	defer srv.Close()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	fmt.Printf("ready ens=%s admin=http://%s/_emulator/ provision=%s data=%q\n", ln.Addr(), ln.Addr(), *provision, *data)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
