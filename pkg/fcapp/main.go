package fcapp

import (
	"fmt"
	"io"
	"os"

	"github.com/aliyun/fc-runtime-go-sdk/fc"

	"github.com/ensnodepool/webhook/pkg/config"
)

// App is a function instance as its main builds it.
type App interface {
	// Handler is the FC handler the runtime invokes (see fc.Start).
	Handler() any
}

// Main is the whole main of every function: it reads the settings from the
// environment (config.FromEnv), builds the instance with newApp, which
// logs JSON to stdout, and hands its Handler to the FC runtime. A settings
// or build error is printed to stderr as "<name>: <error>" and exits 1, so
// the instance fails to start with the reason in its log.
func Main[A App](name string, newApp func(config.Settings, io.Writer) (A, error)) {
	s, err := config.FromEnv(os.Getenv)
	if err == nil {
		var a A
		if a, err = newApp(s, os.Stdout); err == nil {
			fc.Start(a.Handler())
			return
		}
	}
	fmt.Fprintln(os.Stderr, name+":", err)
	os.Exit(1)
}
