// Command otssim runs the Tablestore-compatible table service
// (pkg/dev/otssim) as a standalone listener.
//
//	go run ./scripts/otssim -addr 127.0.0.1:9500 -data .localstack/ots
//
// Point an official SDK at http://127.0.0.1:9500 with any instance name.
// It accepts requests signed with ALIBABA_CLOUD_ACCESS_KEY_ID /
// ALIBABA_CLOUD_ACCESS_KEY_SECRET (the local stack's printed development
// pair when unset), prints a line starting with "ready" once listening,
// and shuts down gracefully on SIGINT or SIGTERM. Faults (including
// "refuse", which closes this listener for a while) are injected through
// the admin API: POST http://127.0.0.1:9500/_emulator/faults.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ensnodepool/webhook/pkg/dev/localstack"
	"github.com/ensnodepool/webhook/pkg/dev/otssim"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "otssim:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("otssim", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9500", "listen address")
	data := fs.String("data", ".localstack/ots", `data directory ("" = a temporary directory removed on exit)`)
	fsync := fs.Bool("fsync", false, "fsync every commit (power-loss durability; slower)")
	verbose := fs.Bool("v", false, "log every failed call")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ak, sk := localstack.DevKeyPair(os.Getenv, os.Stdout, "otssim")
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	srv, err := otssim.New(otssim.Config{AccessKeyID: ak, AccessKeySecret: sk, Dir: *data, Fsync: *fsync,
		Logger: slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))})
	if err != nil {
		return err
	}
	defer srv.Close()
	// The server's own listener, so that a refuse fault can close it.
	ln, err := srv.Listen(*addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	a := ln.Addr()
	fmt.Printf("ready ots=http://%s admin=http://%s%s data=%q\n", a, a, otssim.AdminPrefix, *data)
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
