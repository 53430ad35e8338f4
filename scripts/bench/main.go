// Command bench measures the product against its limits in one run and
// prints a table (pkg/dev/bench):
//
//	go run ./scripts/bench                     # full run, a few minutes
//	go run ./scripts/bench -quick              # CI smoke run, under a minute
//	go run ./scripts/bench -json bench.json    # also write the report as JSON ("-" = stdout)
//
// It exits 1 when a measurement could not be made and 2 when a target was
// missed (-strict only).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/ensnodepool/webhook/pkg/dev/bench"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "CI smoke run: smaller sizes, one concurrency level, short provisioning")
	jsonPath := fs.String("json", "", "also write the report as JSON to this file (\"-\" = stdout)")
	binDir := fs.String("bin", "", "prebuilt webhook, worker and poller binaries (default: build them)")
	strict := fs.Bool("strict", false, "exit 2 when a target is missed")
	verbose := fs.Bool("v", false, "show the function binaries' logs")
	if err := fs.Parse(args); err != nil {
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := bench.Config{Quick: *quick, BinDir: *binDir, Progress: stderr}
	if *verbose {
		cfg.FunctionOutput = stderr
	}
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	if err := rep.WriteTable(stdout); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	if *jsonPath != "" {
		if err := writeJSON(rep, *jsonPath, stdout); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
	}
	if failed := rep.Failed(); len(failed) > 0 {
		fmt.Fprintf(stderr, "bench: targets missed: %v\n", failed)
		if *strict {
			return 2
		}
	}
	return 0
}

func writeJSON(rep *bench.Report, path string, stdout io.Writer) error {
	if path == "-" {
		return rep.WriteJSON(stdout)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := rep.WriteJSON(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
