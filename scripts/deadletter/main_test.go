package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/deadletter"
	"github.com/ensnodepool/webhook/pkg/dev/mnssim"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
	"github.com/ensnodepool/webhook/pkg/mns"
	"github.com/ensnodepool/webhook/pkg/nodepool"
)

const (
	ak, sk = "test-ak", "test-secret"
	// helperEnv makes the test binary run the command (args in
	// helperArgsEnv) and stop for good after stopAfterEnv records were
	// sent, between the send and the delete: the worst moment to be killed.
	helperEnv    = "DEADLETTER_TEST_HELPER"
	helperArgs   = "DEADLETTER_TEST_ARGS"
	stopAfterEnv = "DEADLETTER_TEST_STOP_AFTER"
	stoppedLine  = "helper: stopped between send and delete"
)

// TestMain runs the helper process when asked to, else the tests, and
// fails the run if a test leaves a goroutine running.
func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(helper())
	}
	testkit.VerifyTestMain(m)
}

func helper() int {
	var args []string
	if err := json.Unmarshal([]byte(os.Getenv(helperArgs)), &args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	stop, _ := strconv.Atoi(os.Getenv(stopAfterEnv))
	sent := 0
	tune := func(t *deadletter.Tool) {
		t.AfterSend = func(deadletter.Record) {
			if sent++; sent == stop {
				fmt.Fprintln(os.Stderr, stoppedLine)
				select {} // wait to be killed
			}
		}
	}
	if err := run(context.Background(), args, os.Getenv, os.Stdin, os.Stdout, tune); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

type fixture struct {
	mns  *testkit.MNS
	env  map[string]string
	args []string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	m := testkit.StartMNS(t, mnssim.Config{AccessKeyID: ak, AccessKeySecret: sk})
	m.EnsureQueues(t, mns.QueueAttributes{VisibilityTimeout: 30 * time.Second}, "dl", "reqs", "trk")
	return &fixture{mns: m,
		env:  map[string]string{config.EnvAccessKeyID: ak, config.EnvAccessKeySecret: sk, config.EnvMNSEndpoint: m.URL()},
		args: []string{"-queue", "dl", "-requests", "reqs", "-tracking", "trk", "-hold", "3s"}}
}

func (f *fixture) run(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), append(slices.Clone(f.args), args...), func(k string) string { return f.env[k] },
		strings.NewReader(stdin), &out, nil)
	return out.String(), err
}

// settle waits until no record of queue is held and returns its stats.
func (f *fixture) settle(t *testing.T, queue string) mnssim.QueueStats {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; {
		st, err := f.mns.Inspector().Queue(context.Background(), queue)
		if err != nil {
			t.Fatal(err)
		}
		if st.Visible == st.Total || time.Now().After(deadline) {
			return st
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// record puts a worker request record for a distinct pool on the
// dead-letter queue and returns the envelope it carries.
func (f *fixture) record(t *testing.T, i int, code string) string {
	t.Helper()
	rid, name := fmt.Sprintf("req_%03d", i), fmt.Sprintf("pool-%03d", i)
	r := &nodepool.Request{ClusterId: "eck-demo0001", NodepoolInfo: nodepool.NodepoolInfo{Name: name},
		ScalingGroup: nodepool.ScalingGroup{DesiredSize: 1, InstanceTypes: []string{"ens.sn1.small"},
			ImageId: "m-6734fzvcwcv2o8jj201cpa7ox", VswitchIds: []string{"vsw-demo0001"}, KeyPairName: "k"}}
	e, err := nodepool.NewEnvelope(r, rid, nodepool.SourceQueue, time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	env, _ := e.Marshal()
	b, _ := json.Marshal(deadletter.RequestRecord{Version: 1, Kind: deadletter.KindRequest, Code: code, Reason: "test",
		RequestId: rid, ClusterId: r.ClusterId, Name: name, At: time.Now().UTC(), Body: string(env)})
	if _, err := f.mns.Client.Queue("dl").Send(context.Background(), string(b), 0); err != nil {
		t.Fatal(err)
	}
	return string(env)
}

func TestCLI(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for i := range 3 {
		f.record(t, i, []string{"Conflict", "Conflict", "InvalidParameter"}[i])
	}

	out, err := f.run(t, "", "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"KIND", "request  Conflict", "2", "req_000", "pool-002", "3 of 3 records"} {
		if !strings.Contains(out, want) {
			t.Errorf("list output lacks %q:\n%s", want, out)
		}
	}
	f.settle(t, "dl")
	out, err = f.run(t, "", "-json", "list", "-cause", "Conflict")
	if err != nil {
		t.Fatal(err)
	}
	var l deadletter.Listing
	if err := json.Unmarshal([]byte(out), &l); err != nil || len(l.Records) != 2 || len(l.Groups) != 1 || l.Groups[0].Count != 2 {
		t.Fatalf("list -json: %v\n%s", err, out)
	}
	f.settle(t, "dl")
	out, err = f.run(t, "", "show", l.Records[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	var shown struct {
		ID, Kind, Cause string
		Body            struct {
			Kind string
			Body struct{ RequestId string } // the envelope, as JSON
		}
	}
	if err := json.Unmarshal([]byte(out), &shown); err != nil || shown.ID != l.Records[0].ID || shown.Cause != "Conflict" ||
		shown.Body.Kind != "request" || shown.Body.Body.RequestId != l.Records[0].RequestId {
		t.Fatalf("show: %v\n%s", err, out)
	}

	f.settle(t, "dl")
	out, err = f.run(t, "no\n", "purge", "-cause", "Conflict")
	if !errors.Is(err, deadletter.ErrNotConfirmed) || !strings.Contains(out, "purge 2 records? type yes") || !strings.Contains(out, "2 kept") {
		t.Fatalf("purge refused: %v\n%s", err, out)
	}
	f.settle(t, "dl")
	out, err = f.run(t, "yes\n", "purge", "-cause", "Conflict")
	if err != nil || !strings.Contains(out, "2 purged") {
		t.Fatalf("purge: %v\n%s", err, out)
	}
	f.settle(t, "dl")
	out, err = f.run(t, "", "redrive", "-dry-run")
	if err != nil || !strings.Contains(out, "1 would-redrive") {
		t.Fatalf("redrive -dry-run: %v\n%s", err, out)
	}
	f.settle(t, "dl")
	out, err = f.run(t, "", "purge", "-yes")
	if err != nil || !strings.Contains(out, "1 purged") {
		t.Fatalf("purge -yes: %v\n%s", err, out)
	}
	if st := f.settle(t, "dl"); st.Total != 0 {
		t.Fatalf("left: %+v", st)
	}

	// Without credentials the error names the variables to set.
	noCreds := func(k string) string {
		if strings.HasPrefix(k, "ALIBABA_CLOUD_") {
			return ""
		}
		return f.env[k]
	}
	err = run(context.Background(), append(slices.Clone(f.args), "list"), noCreds,
		strings.NewReader(""), io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "ALIBABA_CLOUD_ACCESS_KEY_ID") || strings.Contains(err.Error(), "Config.") {
		t.Errorf("list without credentials: %v, want an error naming ALIBABA_CLOUD_ACCESS_KEY_ID", err)
	}

	for _, args := range [][]string{{}, {"frob"}, {"show"}, {"list", "extra"}, {"-nope", "list"}} {
		if _, err := f.run(t, "", args...); err == nil || !strings.Contains(err.Error(), "usage") {
			t.Errorf("%q: %v", args, err)
		}
	}
}

// TestRedriveKilledMidRun kills a redrive between a record's send and its
// delete, then runs it again: every record reaches the requests queue, the
// dead-letter queue ends empty, and the only repeat is the record that was
// in flight, under its own RequestId (which the worker's idempotency makes
// harmless).
func TestRedriveKilledMidRun(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const total, stopAfter = 40, 15
	var envs []string
	for i := range total {
		envs = append(envs, f.record(t, i, "InternalError"))
	}
	// The killed run holds what it received for 8 s, longer than a rerun
	// right after the kill takes.
	args, _ := json.Marshal(append(slices.Clone(f.args), "-hold", "8s", "redrive"))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1", helperArgs+"="+string(args), stopAfterEnv+"="+strconv.Itoa(stopAfter),
		config.EnvAccessKeyID+"="+ak, config.EnvAccessKeySecret+"="+sk, config.EnvMNSEndpoint+"="+f.mns.URL())
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if sc.Text() == stoppedLine {
				stopped <- true
				return
			}
		}
		stopped <- false
	}()
	select {
	case ok := <-stopped:
		if !ok {
			t.Fatal("the helper ended without reaching the stop point")
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the helper did not reach the stop point")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	in := f.mns.Inspector()
	ctx := context.Background()
	reqs, _ := in.Queue(ctx, "reqs")
	dl, _ := in.Queue(ctx, "dl")
	if reqs.Total != stopAfter || dl.Total != total-stopAfter+1 {
		t.Fatalf("after the kill: %d on requests, %d dead letters; want %d and %d", reqs.Total, dl.Total, stopAfter, total-stopAfter+1)
	}

	// Right away, the records the killed run received are still held: a
	// rerun moves the others and says so; once the hold ends, another
	// rerun moves the rest.
	out, err := f.run(t, "", "redrive")
	if err != nil || !strings.Contains(out, "records are held by another reader") {
		t.Fatalf("rerun while held: %v\n%s", err, out)
	}
	first := strings.Count(out, "redriven\t")
	f.settle(t, "dl")
	out, err = f.run(t, "", "redrive")
	if err != nil {
		t.Fatalf("rerun: %v\n%s", err, out)
	}
	if n := first + strings.Count(out, "redriven\t"); n != total-stopAfter+1 {
		t.Fatalf("reruns redrove %d records, want %d; last output:\n%s", n, total-stopAfter+1, out)
	}
	if st := f.settle(t, "dl"); st.Total != 0 {
		t.Fatalf("dead letters left: %+v", st)
	}
	msgs, err := in.Peek(ctx, "reqs")
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, m := range msgs {
		count[m.Body]++
	}
	var doubled []string
	for i, e := range envs {
		switch count[e] {
		case 0:
			t.Errorf("record %d lost", i)
		case 1:
		default:
			doubled = append(doubled, fmt.Sprintf("req_%03d×%d", i, count[e]))
		}
	}
	if len(msgs) != total+1 || len(doubled) != 1 {
		t.Fatalf("%d messages on the requests queue for %d records; repeated: %v", len(msgs), total, doubled)
	}
	t.Logf("requests queue: %d messages for %d records; the one in flight at the kill repeated: %v", len(msgs), total, doubled)
}
