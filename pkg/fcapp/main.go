package fcapp

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aliyun/fc-runtime-go-sdk/fc"

	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/fcadapter"
)

// HandlerFunc is a typed FC handler: In is the invocation's event as the
// runtime decodes it (the payload as is for []byte, else its JSON), Out the
// response it encodes as JSON. fc.Start accepts it as it is. The shape is
// aws-lambda-go's HandlerFunc[TIn, TOut]
// (https://github.com/aws/aws-lambda-go/blob/main/lambda/entry_generic.go).
type HandlerFunc[In, Out any] func(ctx context.Context, in In) (Out, error)

// App is a function instance as its main builds it: one typed handler.
type App[In, Out any] interface {
	// Handle handles one invocation. ctx carries the invocation
	// (fcadapter.FromContext): Main attaches it once, before Handle.
	Handle(ctx context.Context, in In) (Out, error)
}

// Main is the whole main of every function. name is the function's name
// (as deployed, e.g. "ens-nodepool-worker"); it is given here only, and
// logged as "function" by every record. Main reads the settings from the
// environment, resolving secret settings that name a KMS secret
// (NewInstance), builds the app with newApp and the function's JSON logger
// on stdout, and hands the runtime a handler that runs each invocation on
// the instance's current app — rebuilt when a refreshed secret changed. A
// settings, secret or build error is printed to stderr as "<name>: <error>"
// and exits 1, so the instance fails to start with the reason in its log.
func Main[In, Out any, A App[In, Out]](name string, newApp func(config.Settings, *slog.Logger) (A, error)) {
	inst, err := NewInstance(context.Background(), InstanceConfig{Getenv: os.Getenv, LogOutput: os.Stdout, Function: name},
		func(s config.Settings) (A, error) {
			log, err := Logger(s, os.Stdout, name)
			if err != nil {
				return *new(A), err
			}
			return newApp(s, log)
		})
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
	fc.Start(Handler[In, Out](inst))
}

// Handler returns the handler Main gives the runtime: it attaches the
// invocation's metadata to the context (fcadapter.WithInvocation — the one
// place that does) and runs the invocation on inst's current app
// (Instance.Get, which may rebuild it after a secret refresh).
func Handler[In, Out any, A App[In, Out]](inst *Instance[A]) HandlerFunc[In, Out] {
	return func(ctx context.Context, in In) (Out, error) {
		ctx = fcadapter.WithInvocation(ctx)
		return inst.Get(ctx).Handle(ctx, in)
	}
}
