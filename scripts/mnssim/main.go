// Command mnssim runs the MNS-compatible queue service (pkg/dev/mnssim) as a standalone listener.
//
//	go run ./scripts/mnssim -addr 127.0.0.1:9100 -data .localstack/mns
//
// It accepts requests signed with ALIBABA_CLOUD_ACCESS_KEY_ID /
// ALIBABA_CLOUD_ACCESS_KEY_SECRET (the local stack's printed development
// pair when unset), prints a line starting with "ready" once listening, and
// shuts down gracefully on SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/ensnodepool/webhook/pkg/dev/localstack"
	"github.com/ensnodepool/webhook/pkg/dev/mnssim"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mnssim:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("mnssim", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9100", "listen address")
	data := fs.String("data", ".localstack/mns", `data directory ("" = in memory)`)
	fsync := fs.Bool("fsync", false, "fsync every commit (power-loss durability; slower)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ak, sk := localstack.DevKeyPair(os.Getenv, os.Stdout, "mnssim")
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	srv, err := mnssim.New(mnssim.Config{AccessKeyID: ak, AccessKeySecret: sk, Dir: *data, Fsync: *fsync, Logger: logger})
	if err != nil {
		return err
	}
	err = localstack.Serve(ctx, *addr, srv, os.Stdout, func(a net.Addr) string {
		return fmt.Sprintf("ready mns=http://%s inspect=http://%s%squeues data=%q", a, a, mnssim.AdminPrefix, *data)
	}, srv.CancelPolls)
	if cerr := srv.Close(); err == nil {
		err = cerr
	}
	return err
}
