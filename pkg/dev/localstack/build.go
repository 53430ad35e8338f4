package localstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// ErrBuild reports that the function binaries could not be built.
var ErrBuild = errors.New("localstack: build failed")

// BuildOptions says what Build builds and where.
type BuildOptions struct {
	// ModuleDir is the module root; default the directory of `go env GOMOD`
	// (run in the current directory).
	ModuleDir string
	// OutDir receives one executable per function, named after it.
	OutDir string
	// Packages maps function name → package; default DefaultPackages.
	Packages map[string]string
	// GOOS and GOARCH cross-compile (with CGO_ENABLED=0); empty builds for
	// this machine.
	GOOS, GOARCH string
	// Flags are extra `go build` flags, e.g. -ldflags=-s; -trimpath is
	// always given.
	Flags []string
}

// ModuleRoot returns the directory of the main module's go.mod as reported
// by `go env GOMOD` run in dir ("" = the current directory).
func ModuleRoot(ctx context.Context, dir string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "env", "GOMOD")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%w: go env GOMOD: %v", ErrBuild, err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("%w: not inside a Go module; run from the repository or set ModuleDir", ErrBuild)
	}
	return filepath.Dir(mod), nil
}

// Build compiles every function with one `go build` (the build cache makes
// repeated builds fast) and returns the path of each executable by function
// name.
func Build(ctx context.Context, o BuildOptions) (map[string]string, error) {
	if o.OutDir == "" {
		return nil, fmt.Errorf("%w: BuildOptions.OutDir is empty", ErrBuild)
	}
	if o.ModuleDir == "" {
		dir, err := ModuleRoot(ctx, "")
		if err != nil {
			return nil, err
		}
		o.ModuleDir = dir
	}
	if o.Packages == nil {
		o.Packages = DefaultPackages()
	}
	outDir, err := filepath.Abs(o.OutDir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(o.Packages))
	for n := range o.Packages {
		names = append(names, n)
	}
	sort.Strings(names)
	// `go build -o dir/ p1 p2 …` names each binary after its package's
	// last element, so functions whose package has another name are built
	// into their own directory.
	groups := map[string][]string{} // out dir → packages
	paths := map[string]string{}
	for _, n := range names {
		pkg := o.Packages[n]
		dir := outDir
		if path.Base(filepath.ToSlash(pkg)) != n {
			dir = filepath.Join(outDir, ".pkg-"+n)
		}
		groups[dir] = append(groups[dir], pkg)
		paths[n] = filepath.Join(dir, path.Base(filepath.ToSlash(pkg)))
	}
	for dir, pkgs := range groups {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		args := append([]string{"build", "-trimpath"}, o.Flags...)
		args = append(args, "-o", dir+string(filepath.Separator))
		args = append(args, pkgs...)
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = o.ModuleDir
		cmd.Env = os.Environ()
		if o.GOOS != "" || o.GOARCH != "" {
			cmd.Env = append(cmd.Env, "CGO_ENABLED=0", "GOOS="+o.GOOS, "GOARCH="+o.GOARCH)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("%w: go %s: %v\n%s", ErrBuild, strings.Join(args, " "), err, stderr.String())
		}
	}
	out := map[string]string{}
	for _, n := range names {
		want := filepath.Join(outDir, n)
		if paths[n] != want {
			if err := os.Rename(paths[n], want); err != nil {
				return nil, err
			}
		}
		if _, err := os.Stat(want); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrBuild, n, err)
		}
		out[n] = want
	}
	return out, nil
}
