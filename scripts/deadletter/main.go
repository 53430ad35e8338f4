// Command deadletter reads and acts on the dead-letter queue (pkg/deadletter):
//
//	ALIBABA_CLOUD_ACCESS_KEY_ID=… ALIBABA_CLOUD_ACCESS_KEY_SECRET=… \
//	  go run ./scripts/deadletter -endpoint http://127.0.0.1:9100 list [-kind request] [-json]
//	go run ./scripts/deadletter show <ID>
//	go run ./scripts/deadletter redrive [-dry-run] [filters]
//	go run ./scripts/deadletter purge [-yes] [filters]
//
// Filters: -kind, -request-id, -cluster-id, -caller, -cause (a Code or
// Reason), -older-than, -newer-than. Flags go before or after the command.
// list prints the records grouped by Kind and Cause with counts and ages,
// then one line per record; show prints one record whole, the envelope it
// carries as JSON (passwords stay masked, sealed ones sealed); redrive puts
// request records back on the requests queue and callback records on the
// tracking queue, deleting each only after its new message is
// acknowledged; purge deletes after asking (or with -yes), and a declined
// purge lists what it kept and exits 1. -json prints JSON for tooling
// (times in RFC 3339). An unknown -kind, a negative age or a -hold outside
// MNS's 1 s to 12 h is refused before anything is read. Errors print once
// prefixed "deadletter:", before the usage.
package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/deadletter"
	"github.com/ensnodepool/webhook/pkg/mns"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, nil)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, errorLine(err))
		os.Exit(1)
	}
}

// errorLine is how the command reports err: one "deadletter:" prefix,
// whether or not the error carries the package's own.
func errorLine(err error) string {
	return "deadletter: " + strings.TrimPrefix(err.Error(), "deadletter: ")
}

// run is main without the process: flags in args, environment through
// getenv; tune, if set, adjusts the Tool before it runs (tests).
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer,
	tune func(*deadletter.Tool)) error {
	o, err := parseArgs(args, getenv)
	if err != nil {
		return err
	}
	t, err := newTool(o, getenv)
	if err != nil {
		return err
	}
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	t.OnUnseen = func(n int) {
		fmt.Fprintf(out, "note: %d records are held by another reader or delayed and were not looked at; rerun once they are visible (a killed run's hold ends after -hold)\n", n)
	}
	if tune != nil {
		tune(t)
	}
	switch o.cmd {
	case "list":
		return list(ctx, t, o, out)
	case "show":
		return show(ctx, t, o, out)
	case "redrive", "purge":
		return act(ctx, t, o, stdin, out)
	default:
		return usage(fmt.Errorf("unknown command %q", o.cmd))
	}
}

// options are the command line: the command, its arguments and the flags.
type options struct {
	cmd  string
	args []string

	endpoint, deadLetter, requests, tracking string
	filter                                   deadletter.Filter
	asJSON, dryRun, yes                      bool
	hold                                     time.Duration
	max                                      int
}

// parseArgs reads the command line; flags may come before and after the
// command, and default to the environment's settings.
func parseArgs(args []string, getenv func(string) string) (options, error) {
	var o options
	fs := flag.NewFlagSet("deadletter", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.endpoint, "endpoint", getenv(config.EnvMNSEndpoint), "MNS endpoint (default $MNS_ENDPOINT)")
	fs.StringVar(&o.deadLetter, "queue", cmp.Or(getenv(config.EnvDeadLetterQueue), config.DefaultDeadLetterQueue), "dead-letter queue (default $QUEUE_DEADLETTER)")
	fs.StringVar(&o.requests, "requests", cmp.Or(getenv(config.EnvRequestsQueue), config.DefaultRequestsQueue), "requests queue, for redrive (default $QUEUE_REQUESTS)")
	fs.StringVar(&o.tracking, "tracking", cmp.Or(getenv(config.EnvTrackingQueue), config.DefaultTrackingQueue), "tracking queue, for redrive (default $QUEUE_TRACKING)")
	f := &o.filter
	fs.StringVar(&f.Kind, "kind", "", "only records of this Kind: "+strings.Join(deadletter.Kinds, ", "))
	fs.StringVar(&f.RequestId, "request-id", "", "only records of this RequestId")
	fs.StringVar(&f.ClusterId, "cluster-id", "", "only records of this ClusterId")
	fs.StringVar(&f.Caller, "caller", "", "only records of this Caller")
	fs.StringVar(&f.Cause, "cause", "", "only records with this Code (request) or Reason (others)")
	fs.DurationVar(&f.OlderThan, "older-than", 0, "only records at least this old")
	fs.DurationVar(&f.NewerThan, "newer-than", 0, "only records at most this old")
	fs.BoolVar(&o.asJSON, "json", false, "print JSON")
	fs.BoolVar(&o.dryRun, "dry-run", false, "redrive, purge: show what would happen, change nothing")
	fs.BoolVar(&o.yes, "yes", false, "purge: do not ask")
	fs.DurationVar(&o.hold, "hold", 2*time.Minute, "how long records stay invisible while a command works (1s to 12h, MNS's limits)")
	fs.IntVar(&o.max, "max", 10000, "look at no more than this many records")

	if err := fs.Parse(args); err != nil {
		return o, usage(err)
	}
	pos := fs.Args()
	if len(pos) == 0 {
		return o, usage(errors.New("a command is required"))
	}
	o.cmd = pos[0]
	if err := fs.Parse(pos[1:]); err != nil {
		return o, usage(err)
	}
	o.args = fs.Args()
	return o, checkOptions(o)
}

// checkOptions refuses flag values that would make a command do nothing
// while looking as if it worked.
func checkOptions(o options) error {
	var errs []error
	if o.hold < deadletter.MinHold || o.hold > deadletter.MaxHold {
		errs = append(errs, fmt.Errorf("-hold %v: MNS keeps a received record invisible for %v to %v; a longer hold would hold nothing",
			o.hold, deadletter.MinHold, deadletter.MaxHold))
	}
	if o.max < 1 {
		errs = append(errs, fmt.Errorf("-max %d: want at least 1", o.max))
	}
	if err := o.filter.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return usage(err)
	}
	return nil
}

// newTool connects to MNS with the environment's key pair and returns the
// tool on the queues o names.
func newTool(o options, getenv func(string) string) (*deadletter.Tool, error) {
	if o.endpoint == "" {
		return nil, fmt.Errorf("-endpoint or %s is required", config.EnvMNSEndpoint)
	}
	if getenv(config.EnvAccessKeyID) == "" || getenv(config.EnvAccessKeySecret) == "" {
		return nil, fmt.Errorf("no MNS credentials: set %s and %s (with %s for STS credentials)",
			config.EnvAccessKeyID, config.EnvAccessKeySecret, config.EnvSecurityToken)
	}
	c, err := mns.New(mns.Config{Endpoint: o.endpoint, Credentials: mns.Credentials{
		AccessKeyID: getenv(config.EnvAccessKeyID), AccessKeySecret: getenv(config.EnvAccessKeySecret),
		SecurityToken: getenv(config.EnvSecurityToken)}})
	if err != nil {
		return nil, err
	}
	return &deadletter.Tool{DeadLetter: c.Queue(o.deadLetter), Requests: c.Queue(o.requests), Tracking: c.Queue(o.tracking),
		Hold: o.hold, Max: o.max}, nil
}

// list prints the matching records grouped, then one per line (or JSON).
func list(ctx context.Context, t *deadletter.Tool, o options, out *bufio.Writer) error {
	if len(o.args) > 0 {
		return usage(fmt.Errorf("list takes no arguments, got %q", o.args))
	}
	t.OnUnseen = nil // the listing reports Unseen itself
	l, err := t.List(ctx, o.filter)
	if err != nil {
		return err
	}
	if o.asJSON {
		return json.NewEncoder(out).Encode(l)
	}
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	printListing(out, l, now())
	return nil
}

// show prints one record whole.
func show(ctx context.Context, t *deadletter.Tool, o options, out *bufio.Writer) error {
	if len(o.args) != 1 {
		return usage(errors.New("show takes one record ID"))
	}
	r, err := t.Show(ctx, o.args[0])
	if err != nil {
		return err
	}
	return printRecord(out, r)
}

// act redrives or purges the matching records, printing each action as it
// happens (purge asks first unless -yes) and a summary.
func act(ctx context.Context, t *deadletter.Tool, o options, stdin io.Reader, out *bufio.Writer) error {
	if len(o.args) > 0 {
		return usage(fmt.Errorf("%s takes no arguments, got %q", o.cmd, o.args))
	}
	report := func(a deadletter.Action) {
		printAction(out, a, o.asJSON)
		_ = out.Flush()
	}
	var (
		acts []deadletter.Action
		err  error
	)
	if o.cmd == "redrive" {
		acts, err = t.Redrive(ctx, o.filter, o.dryRun, report)
	} else {
		var confirm func([]deadletter.Record) bool
		if !o.yes {
			confirm = func(recs []deadletter.Record) bool { return ask(out, stdin, recs) }
		}
		acts, err = t.Purge(ctx, o.filter, o.dryRun, confirm)
		for _, a := range acts {
			report(a)
		}
	}
	if !o.asJSON {
		printSummary(out, acts)
	}
	return err
}

func usage(err error) error {
	return fmt.Errorf("%w\nusage: deadletter [flags] list|show ID|redrive|purge [flags] (go doc ./scripts/deadletter)", err)
}

func age(d time.Duration) string { return d.Round(time.Second).String() }

func printListing(w io.Writer, l deadletter.Listing, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tCAUSE\tCOUNT\tOLDEST\tNEWEST")
	for _, g := range l.Groups {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", g.Kind, g.Cause, g.Count, age(now.Sub(g.Oldest)), age(now.Sub(g.Newest)))
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "ID\tKIND\tCAUSE\tEVENT\tREQUESTID\tCLUSTERID\tNAME\tCALLER\tAGE")
	for _, r := range l.Records {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Kind, r.Cause(), dash(r.Event),
			dash(r.RequestId), dash(r.ClusterId), dash(r.Name), dash(r.Caller), age(r.Age(now)))
	}
	tw.Flush()
	fmt.Fprintf(w, "%d of %d records", len(l.Records), l.Scanned)
	if l.Truncated {
		fmt.Fprint(w, " (stopped at -max)")
	}
	if l.Unseen > 0 {
		fmt.Fprintf(w, "; %d more held by another reader or delayed", l.Unseen)
	}
	fmt.Fprintln(w)
}

func dash(s string) string { return cmp.Or(s, "-") }

// printRecord prints the record's fields and its body as JSON, the
// envelope it carries shown as JSON too (Record.BodyJSON: masked by
// deadletter.Parse).
func printRecord(w io.Writer, r deadletter.Record) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(struct {
		deadletter.Record
		Cause string
		Body  json.RawMessage
	}{r, r.Cause(), r.BodyJSON()})
}

func printAction(w io.Writer, a deadletter.Action, asJSON bool) {
	if asJSON {
		_ = json.NewEncoder(w).Encode(a)
		return
	}
	fmt.Fprintf(w, "%s\t%s\t%s\t%s", a.Outcome, a.Record.ID, a.Record.Kind, dash(a.Record.RequestId))
	if a.To != "" {
		fmt.Fprintf(w, "\t→ %s %s", a.To, a.MessageID)
	}
	if a.Detail != "" {
		fmt.Fprintf(w, "\t(%s)", a.Detail)
	}
	fmt.Fprintln(w)
}

func printSummary(w io.Writer, acts []deadletter.Action) {
	n := map[string]int{}
	for _, a := range acts {
		n[a.Outcome]++
	}
	var parts []string
	for _, o := range []string{deadletter.Redriven, deadletter.WouldRedrive, deadletter.Purged, deadletter.WouldPurge,
		deadletter.Kept, deadletter.Skipped, deadletter.Failed} {
		switch {
		case n[o] > 0 && o == deadletter.Kept:
			parts = append(parts, fmt.Sprintf("%d %s (not confirmed: nothing deleted)", n[o], o))
		case n[o] > 0:
			parts = append(parts, fmt.Sprintf("%d %s", n[o], o))
		}
	}
	if len(parts) == 0 {
		parts = []string{"nothing matched"}
	}
	fmt.Fprintln(w, strings.Join(parts, ", "))
}

// ask shows what purge would delete and reads the answer from stdin.
func ask(w *bufio.Writer, stdin io.Reader, recs []deadletter.Record) bool {
	counts := map[[2]string]int{}
	var keys [][2]string
	for _, r := range recs {
		k := [2]string{r.Kind, r.Cause()}
		if counts[k] == 0 {
			keys = append(keys, k)
		}
		counts[k]++
	}
	for _, k := range keys {
		fmt.Fprintf(w, "  %d × %s %s\n", counts[k], k[0], k[1])
	}
	fmt.Fprintf(w, "purge %d records? type yes: ", len(recs))
	_ = w.Flush()
	line, _ := bufio.NewReader(stdin).ReadString('\n')
	ok := strings.TrimSpace(line) == "yes"
	if !ok {
		fmt.Fprintln(w, "not purged")
	}
	return ok
}
