// Command mnssim runs the MNS-compatible queue service (pkg/mnssim) as a standalone listener.
//
//	go run ./scripts/mnssim -addr 127.0.0.1:9100 -data .localstack/mns
//
// It accepts requests signed with ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET
// (dev defaults when unset), prints a line starting with "ready" once listening, and shuts down
// gracefully on SIGINT or SIGTERM.
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

	"github.com/ensnodepool/webhook/pkg/mnssim"
)

// Development credentials used when the environment sets none.
const (
	devAccessKeyID     = "LTAI-local-dev"
	devAccessKeySecret = "local-dev-secret"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mnssim:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("mnssim", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9100", "listen address")
	data := fs.String("data", ".localstack/mns", `data directory ("" = in memory)`)
	fsync := fs.Bool("fsync", false, "fsync every commit (power-loss durability; slower)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ak, sk := os.Getenv("ALIBABA_CLOUD_ACCESS_KEY_ID"), os.Getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
	if ak == "" || sk == "" {
		ak, sk = devAccessKeyID, devAccessKeySecret
		fmt.Printf("using dev credentials: ALIBABA_CLOUD_ACCESS_KEY_ID=%s ALIBABA_CLOUD_ACCESS_KEY_SECRET=%s\n", ak, sk)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	srv, err := mnssim.New(mnssim.Config{AccessKeyID: ak, AccessKeySecret: sk, Dir: *data, Fsync: *fsync, Logger: logger})
	if err != nil {
		return err
	}
	defer srv.Close()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	// IdleTimeout must exceed the SDK's 10 s idle keep-alive (reference/mns.md §1.2).
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	hs.RegisterOnShutdown(srv.CancelPolls)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	fmt.Printf("ready mns=http://%s data=%q\n", ln.Addr(), *data)

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
	return srv.Close()
}
