// Command enssim runs the ENS-compatible API service (pkg/dev/enssim) on its own.
//
//	go run ./scripts/enssim -addr 127.0.0.1:9200 -data .localstack/ens -provision 20s
//
// It accepts the AccessKey pair in ALIBABA_CLOUD_ACCESS_KEY_ID and
// ALIBABA_CLOUD_ACCESS_KEY_SECRET, or the local stack's printed development
// pair when they are unset, prints a line starting with "ready" once it
// listens, and shuts down gracefully on SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/ensnodepool/webhook/pkg/dev/enssim"
	"github.com/ensnodepool/webhook/pkg/dev/localstack"
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
	id, secret := localstack.DevKeyPair(os.Getenv, os.Stdout, "enssim")
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	srv, err := enssim.New(enssim.Config{AccessKeyID: id, AccessKeySecret: secret, Dir: *data, ProvisionTime: *provision,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))})
	if err != nil {
		return err
	}
	defer srv.Close()
	return localstack.Serve(ctx, *addr, srv, os.Stdout, func(a net.Addr) string {
		return fmt.Sprintf("ready ens=%s admin=http://%s/_emulator/ provision=%s data=%q", a, a, *provision, *data)
	}, nil)
}
