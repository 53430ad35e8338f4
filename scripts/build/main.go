// Command build cross-compiles the three functions for Function Compute
// (GOOS=linux GOARCH=amd64 CGO_ENABLED=0, -trimpath -ldflags=-s, as s.yaml's
// pre-deploy actions do) and packages each as FC expects a go1 function:
//
//	dist/<function>/main     the code directory s.yaml points at
//	dist/<function>.zip      the same, zipped: `main` at the root, mode 0755
//
//	go run ./scripts/build [-out dist]
//
// It prints each binary's and zip's size.
package main

import (
	"archive/zip"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"

	"github.com/ensnodepool/webhook/pkg/dev/localstack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	dist := fs.String("out", "dist", "output directory (relative to the module root)")
	goos := fs.String("goos", "linux", "target GOOS")
	goarch := fs.String("goarch", "amd64", "target GOARCH")
	if err := fs.Parse(args); err != nil {
		return err
	}
	root, err := localstack.ModuleRoot(ctx, "")
	if err != nil {
		return err
	}
	outDir := *dist
	if !filepath.IsAbs(outDir) {
		outDir = filepath.Join(root, outDir)
	}
	tmp, err := os.MkdirTemp("", "ens-nodepool-build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bins, err := localstack.Build(ctx, localstack.BuildOptions{ModuleDir: root, OutDir: tmp,
		GOOS: *goos, GOARCH: *goarch, Flags: []string{"-ldflags=-s"}})
	if err != nil {
		return err
	}
	names := make([]string, 0, len(bins))
	for n := range bins {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		dir := filepath.Join(outDir, n)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		bin := filepath.Join(dir, "main")
		if err := copyFile(bins[n], bin); err != nil {
			return err
		}
		zipPath := filepath.Join(outDir, n+".zip")
		if err := zipMain(bin, zipPath); err != nil {
			return err
		}
		bs, _ := os.Stat(bin)
		zs, _ := os.Stat(zipPath)
		fmt.Fprintf(out, "%-8s %s  %6.2f MB   %s  %6.2f MB\n", n, rel(root, bin), mb(bs.Size()), rel(root, zipPath), mb(zs.Size()))
	}
	return nil
}

func mb(n int64) float64 { return float64(n) / (1 << 20) }

func rel(base, p string) string {
	if r, err := filepath.Rel(base, p); err == nil {
		return r
	}
	return p
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

// zipMain writes a zip holding bin as "main" with mode 0755 (FC runs the
// handler file of a go1 function directly).
func zipMain(bin, zipPath string) error {
	f, err := os.Create(zipPath + ".tmp")
	if err != nil {
		return err
	}
	defer os.Remove(zipPath + ".tmp")
	zw := zip.NewWriter(f)
	st, err := os.Stat(bin)
	if err != nil {
		f.Close()
		return err
	}
	h, err := zip.FileInfoHeader(st)
	if err != nil {
		f.Close()
		return err
	}
	h.Name = "main"
	h.Method = zip.Deflate
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		f.Close()
		return err
	}
	in, err := os.Open(bin)
	if err != nil {
		f.Close()
		return err
	}
	_, err = io.Copy(w, in)
	in.Close()
	if err == nil {
		err = zw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(zipPath+".tmp", zipPath)
}
