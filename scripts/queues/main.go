// Command queues creates, checks and deletes the product's MNS queues with
// exactly the attributes the code relies on (pkg/queues is the one
// description of them):
//
//	export ALIBABA_CLOUD_ACCESS_KEY_ID=… ALIBABA_CLOUD_ACCESS_KEY_SECRET=…
//	go run ./scripts/queues -endpoint https://<account-id>.mns.<region>.aliyuncs.com create
//	go run ./scripts/queues -endpoint … check        # exit 1 on any drift
//	go run ./scripts/queues -endpoint … delete [-yes]
//
// Flags go before or after the command, as with scripts/deadletter; a
// command line it cannot run prints the error, then the usage.
//
// create makes the missing queues and sets the attributes of existing ones
// that differ (each change printed); running it again changes nothing.
// check prints one line per drift — queue, attribute, deployed value, wanted
// value — and exits 1 if there is any. delete asks for the word "delete" on
// standard input unless -yes is given. The endpoint defaults to
// $MNS_ENDPOINT, the queue names to $QUEUE_REQUESTS, $QUEUE_TRACKING,
// $QUEUE_DEADLETTER and the trigger's dead-letter queue to
// nodepool-trigger-deadletter.
package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/mns"
	"github.com/ensnodepool/webhook/pkg/queues"
)

// errDrift makes check exit 1 after printing the drifts.
var errDrift = errors.New("queues differ from the spec")

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "queues: "+strings.TrimPrefix(err.Error(), "queues: "))
		os.Exit(1)
	}
}

const usage = `usage: queues [flags] create|check|delete [flags]

  create   create the missing queues, set drifted attributes to the spec
  check    report every attribute that differs from the spec; exit 1 on drift
  delete   delete the queues and their messages (asks unless -yes)

Credentials: ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET
(and ALIBABA_CLOUD_SECURITY_TOKEN for STS credentials).

flags:
`

// commands are the commands of queues.
var commands = []string{"create", "check", "delete"}

// usageError is a command line queues cannot run: the error, then the
// usage.
type usageError struct {
	err   error
	usage string
}

func (e *usageError) Error() string { return e.err.Error() + "\n" + e.usage }
func (e *usageError) Unwrap() error { return e.err }

// run is main without the process: flags in args (before or after the
// command, as scripts/deadletter takes them), environment through getenv,
// the delete confirmation from stdin.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("queues", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	endpoint := fs.String("endpoint", getenv(config.EnvMNSEndpoint), "MNS endpoint, https://<account-id>.mns.<region>.aliyuncs.com; $"+config.EnvMNSEndpoint+" sets the default")
	requests := fs.String("requests", cmp.Or(getenv(config.EnvRequestsQueue), config.DefaultRequestsQueue), "requests queue; $"+config.EnvRequestsQueue+" sets the default")
	tracking := fs.String("tracking", cmp.Or(getenv(config.EnvTrackingQueue), config.DefaultTrackingQueue), "tracking queue; $"+config.EnvTrackingQueue+" sets the default")
	dead := fs.String("deadletter", cmp.Or(getenv(config.EnvDeadLetterQueue), config.DefaultDeadLetterQueue), "dead-letter queue; $"+config.EnvDeadLetterQueue+" sets the default")
	triggerDead := fs.String("trigger-deadletter", queues.DefaultTriggerDeadLetter, "the worker trigger's dead-letter queue (EventBridge's raw dead letters)")
	yes := fs.Bool("yes", false, "delete without asking")
	cmd, err := parseCommand(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usageText(fs))
		return nil
	}
	if err != nil {
		return &usageError{err: err, usage: usageText(fs)}
	}
	var errs []error
	if *endpoint == "" {
		errs = append(errs, fmt.Errorf("no endpoint: pass -endpoint or set %s", config.EnvMNSEndpoint))
	}
	id, secret := getenv(config.EnvAccessKeyID), getenv(config.EnvAccessKeySecret)
	if id == "" || secret == "" {
		errs = append(errs, fmt.Errorf("no credentials: set %s and %s", config.EnvAccessKeyID, config.EnvAccessKeySecret))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	c, err := mns.New(mns.Config{Endpoint: *endpoint,
		Credentials: mns.Credentials{AccessKeyID: id, AccessKeySecret: secret, SecurityToken: getenv(config.EnvSecurityToken)}})
	if err != nil {
		return err
	}
	specs := queues.Specs(queues.Names{Requests: *requests, Tracking: *tracking, DeadLetter: *dead, TriggerDeadLetter: *triggerDead}, queues.Timeouts{})
	switch cmd {
	case "create":
		return create(ctx, c, specs, stdout)
	case "check":
		return check(ctx, c, specs, stdout)
	default:
		return remove(ctx, c, specs, *yes, stdin, stdout)
	}
}

// parseCommand parses the flags before and after the command and returns
// the command.
func parseCommand(fs *flag.FlagSet, args []string) (string, error) {
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() == 0 {
		return "", errors.New("a command is required: " + strings.Join(commands, ", "))
	}
	cmd := fs.Arg(0)
	if !slices.Contains(commands, cmd) {
		return "", fmt.Errorf("unknown command %q: want %s", cmd, strings.Join(commands, ", "))
	}
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("%s takes no arguments, got %q", cmd, fs.Args())
	}
	return cmd, nil
}

// usageText is the usage with the flags' defaults.
func usageText(fs *flag.FlagSet) string {
	var b strings.Builder
	b.WriteString(usage)
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	return b.String()
}

func create(ctx context.Context, c queues.Admin, specs []queues.Spec, out io.Writer) error {
	created, drifts, err := queues.Create(ctx, c, specs)
	for _, n := range created {
		fmt.Fprintf(out, "created %s\n", n)
	}
	if err != nil {
		return err
	}
	for _, d := range drifts {
		fmt.Fprintf(out, "set %s %s: %s -> %s\n", d.Queue, d.Attribute, d.Got, d.Want)
	}
	if err := queues.Fix(ctx, c, specs, drifts); err != nil {
		return err
	}
	left, err := queues.Check(ctx, c, specs)
	if err != nil {
		return err
	}
	if len(left) > 0 {
		for _, d := range left {
			fmt.Fprintln(out, "drift", d)
		}
		return errDrift
	}
	fmt.Fprintf(out, "ok: %d queues as specified\n", len(specs))
	return nil
}

func check(ctx context.Context, c queues.Admin, specs []queues.Spec, out io.Writer) error {
	drifts, err := queues.Check(ctx, c, specs)
	if err != nil {
		return err
	}
	for _, d := range drifts {
		fmt.Fprintln(out, "drift", d)
	}
	if len(drifts) > 0 {
		return fmt.Errorf("%w: %d difference(s); run create to fix them", errDrift, len(drifts))
	}
	fmt.Fprintf(out, "ok: %d queues as specified\n", len(specs))
	return nil
}

func remove(ctx context.Context, c queues.Admin, specs []queues.Spec, yes bool, in io.Reader, out io.Writer) error {
	if !yes {
		names := make([]string, len(specs))
		for i, s := range specs {
			names[i] = s.Name
		}
		fmt.Fprintf(out, "delete queues %s and every message in them? type delete to confirm: ", strings.Join(names, ", "))
		line, _ := bufio.NewReader(in).ReadString('\n')
		if strings.TrimSpace(line) != "delete" {
			fmt.Fprintln(out)
			return errors.New("not confirmed; nothing deleted (pass -yes to skip the question)")
		}
	}
	if err := queues.Delete(ctx, c, specs); err != nil {
		return err
	}
	for _, s := range specs {
		fmt.Fprintf(out, "deleted %s\n", s.Name)
	}
	return nil
}
