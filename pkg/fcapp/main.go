package fcapp

import (
	"context"
	"fmt"
	"io"
	"os"
	"reflect"

	"github.com/aliyun/fc-runtime-go-sdk/fc"

	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/fcadapter"
)

// App is a function instance as its main builds it.
type App interface {
	// Handler is the FC handler the runtime invokes (see fc.Start); its
	// first parameter is the invocation's context.Context.
	Handler() any
}

// Main is the whole main of every function: it reads the settings from the
// environment, resolving secret settings that name a KMS secret
// (NewInstance), builds the instance with newApp, which logs JSON to
// stdout, and hands the runtime a handler that runs each invocation on the
// instance's current app — rebuilt when a refreshed secret changed. A
// settings, secret or build error is printed to stderr as "<name>: <error>"
// and exits 1, so the instance fails to start with the reason in its log.
func Main[A App](name string, newApp func(config.Settings, io.Writer) (A, error)) {
	inst, err := NewInstance(context.Background(), InstanceConfig{Getenv: os.Getenv, LogOutput: os.Stdout, Function: name},
		func(s config.Settings) (A, error) { return newApp(s, os.Stdout) })
	if err == nil {
		var h any
		if h, err = Handler(inst); err == nil {
			fc.Start(h)
			return
		}
	}
	fmt.Fprintln(os.Stderr, name+":", err)
	os.Exit(1)
}

var contextType = reflect.TypeFor[context.Context]()

// Handler returns a function of the same type as the app's Handler that
// calls the Handler of inst's current app (inst.Get with the invocation's
// context), so fc.Start sees the app's own signature. The handler's first
// parameter must be a context.Context.
func Handler[A App](inst *Instance[A]) (any, error) {
	first := reflect.ValueOf(inst.Get(context.Background()).Handler())
	t := first.Type()
	if t.Kind() != reflect.Func || t.NumIn() == 0 || t.In(0) != contextType {
		return nil, fmt.Errorf("fcapp: handler %s does not take a context.Context first", t)
	}
	return reflect.MakeFunc(t, func(args []reflect.Value) []reflect.Value {
		ctx := fcadapter.WithInvocation(args[0].Interface().(context.Context))
		return reflect.ValueOf(inst.Get(ctx).Handler()).Call(args)
	}).Interface(), nil
}
