package faults

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/dev/enssim"
	"github.com/ensnodepool/webhook/pkg/dev/localstack"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
)

const ensServerError = `{"RequestId":"fault","HostId":"ens.aliyuncs.com","Code":"ServiceUnavailable","Message":"injected by the fault suite"}`

// TestFaults runs every scenario (in parallel, each on its own stack) and
// then logs the table; each scenario asserts its own zeros.
func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end fault scenarios; run without -short")
	}
	t.Run("scenarios", func(t *testing.T) {
		t.Run("ens-5xx", func(t *testing.T) { testENS5xx(t, false) })
		t.Run("ens-5xx-answer-lost", func(t *testing.T) { testENS5xx(t, true) })
		t.Run("ens-throttling", testENSThrottling)
		t.Run("ens-latency", testENSLatency)
		t.Run("functions-invocation-timeout", testInvocationTimeout)
		t.Run("ens-pool-fails-vanishes", testENSPoolFailsVanishes)
		t.Run("mns-sigkill", testMNSKill)
		t.Run("mns-receive-errors-slow-acks", testMNSErrors)
		t.Run("functions-sigkill", testFunctionKills)
		t.Run("functions-bad-messages", testBadMessages)
		t.Run("receivers", testReceivers)
		t.Run("receivers-hanging", testHangingReceivers)
		t.Run("stack-sigkill", testWholeStackKill)
		t.Run("security", testSecurity)
		t.Run("security-hostile-producer", testHostileProducer)
		t.Run("security-hostile-producer-callers", testHostileCallers)
	})
	tbl := renderTable()
	t.Logf("fault suite (full=%v):\n%s", full(), tbl)
	if p := os.Getenv("FAULTS_TABLE"); p != "" {
		if err := os.WriteFile(p, []byte(tbl), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// spread submits n requests for prefix-i over d, all expecting active.
func (e *env) spread(prefix string, n int, d time.Duration) expectation {
	want := expectation{}
	for i := range n {
		name := fmt.Sprintf("%s-%d", prefix, i)
		want[e.submit(name, e.request(name, e.rcv.url+"/ok"))] = callback.TypeActive
		if n > 1 {
			time.Sleep(d / time.Duration(n-1))
		}
	}
	return want
}

// 1. ENS: 20 % of all calls fail with 503 for a window; half of the
// faulted creates are executed and only their answer is lost.
func testENS5xx(t *testing.T, answerLost bool) {
	t.Parallel()
	window, n := 15*time.Second, 6
	if full() {
		window, n = 2*time.Minute, 40
	}
	e := newEnv(t, envOpts{seed: 1})
	e.ensF.setRule(func(op string, rng *rand.Rand) action {
		if op == "admin" || rng.Float64() >= 0.2 {
			return action{}
		}
		return action{Status: http.StatusServiceUnavailable, Body: ensServerError, After: answerLost && rng.IntN(2) == 0}
	})
	want := e.spread("e5xx", n, window-2*time.Second)
	time.Sleep(time.Until(e.start.Add(window)))
	e.ensF.setRule(nil)
	what := "ENS: 20 % 5xx (" + window.String() + ", call not executed)"
	if answerLost {
		what = "ENS: 20 % 5xx (" + window.String() + ", half after the call ran: answer lost)"
	}
	r := e.settle(what, want, 90*time.Second,
		fmt.Sprintf("faults injected %v", e.ensF.injected()))
	t.Logf("%+v", r)
}

// 1. ENS: a throttling storm — the next 40 calls of any action are
// refused with Throttling.User.
func testENSThrottling(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{seed: 2})
	if err := e.ens.InjectFault(enssim.Fault{Action: "*", Count: 15, Code: "Throttling.User", Status: 400,
		TimeLeft: enssim.Duration{Duration: 200 * time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	want := e.spread("thr", 4, time.Second)
	e.settle("ENS: throttling storm (15 × Throttling.User, any action)", want, 100*time.Second, "")
}

// 1. ENS: one create answers after 11 s, past the client's 10 s read
// timeout; the create itself happens.
func testENSLatency(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{seed: 3})
	if err := e.ens.InjectFault(enssim.Fault{Action: "CreateClusterNodePool", Count: 1, Delay: enssim.Duration{Duration: 11 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	if err := e.ens.InjectFault(enssim.Fault{Action: "DescribeClusterNodePools", Count: 1, Delay: enssim.Duration{Duration: 11 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	want := e.spread("lat", 3, time.Second)
	e.settle("ENS: latency spike 11 s > client timeout (1 create, 1 describe)", want, 90*time.Second, "")
}

// 3. Functions: an invocation timeout. The worker's timeout is 6 s and
// its first tracking write is held 12 s by the queue service: the FC
// runtime kills the instance mid-invocation, the trigger redelivers the
// batch after its visibility timeout, and the next pass adopts the pools
// the killed invocation created — one pool each, nothing lost.
func testInvocationTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{seed: 8, mutate: func(c *localstack.Config) {
		c.WorkerTimeout = 6 * time.Second
	}})
	want := e.spread("tmo", 2, 0) // both accepted before the fault is armed
	var held atomic.Int32
	e.mnsF.setRule(func(op string, _ *rand.Rand) action {
		if op == "send" && held.Add(1) == 1 {
			return action{Delay: 12 * time.Second}
		}
		return action{}
	})
	e.settle("Functions: worker invocation timeout (6 s) during a 12 s queue write", want, 90*time.Second, "")
	starts := 0
	for _, in := range e.st.Runtime().Instances(localstack.FuncWorker) {
		starts += in.Starts
	}
	if starts < 2 {
		t.Errorf("worker processes started %d times; the timeout should have killed and restarted one", starts)
	}
}

// 1. ENS: pools failing during provisioning and pools vanishing.
func testENSPoolFailsVanishes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{seed: 4, provision: 3 * time.Second})
	want := expectation{}
	for i := range 2 {
		name := fmt.Sprintf("fail-%d", i)
		if _, err := e.ens.FailPool("eck-demo0001", name, time.Second); err != nil {
			t.Fatal(err)
		}
		want[e.submit(name, e.request(name, e.rcv.url+"/ok"))] = callback.TypeFailed
	}
	vanish := map[string]string{}
	for i := range 2 {
		name := fmt.Sprintf("vanish-%d", i)
		id := e.submit(name, e.request(name, e.rcv.url+"/ok"))
		want[id] = callback.TypeFailed
		vanish[id] = name
	}
	ok := e.submit("steady-0", e.request("steady-0", e.rcv.url+"/ok"))
	want[ok] = callback.TypeActive
	// Vanish once the poller has seen the pool (creating delivered, then one more poll).
	testkit.WaitFor(t, 30*time.Second, "creating callbacks", func() bool {
		g := e.rcv.byRequest()
		for id := range vanish {
			if len(g[id][callback.TypeCreating]) == 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(2 * e.cfg.PollInterval)
	for _, name := range vanish {
		if n, err := e.ens.Vanish("eck-demo0001", "", name); err != nil || n != 1 {
			t.Fatalf("vanish %s: %d %v", name, n, err)
		}
	}
	e.settle("ENS: pools fail in provisioning (2) / vanish (2), 1 healthy", want, 60*time.Second, "failed expected for 4")
}

// 2. MNS: the queue service (scripts/mnssim, a child process) is SIGKILLed
// while requests stream in, and restarted 2 s later on the same port and
// data directory.
func testMNSKill(t *testing.T) {
	t.Parallel()
	kills := 2
	if full() {
		kills = 6
	}
	svc := startMNSProcess(t, "127.0.0.1:0", t.TempDir())
	e := newEnv(t, envOpts{seed: 5, externalMNS: "http://" + svc.addr})
	want := expectation{}
	errs := make(chan error, 1)
	stop := make(chan struct{})
	go func() { // killer
		defer close(errs)
		for i := range kills {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(1500+700*i) * time.Millisecond):
			}
			svc.kill()
			time.Sleep(2 * time.Second)
			if err := svc.restart(); err != nil {
				errs <- err
				return
			}
		}
	}()
	for i := range 3 * kills {
		name := fmt.Sprintf("mkill-%d", i)
		want[e.submit(name, e.request(name, e.rcv.url+"/ok"))] = callback.TypeActive
		time.Sleep(400 * time.Millisecond)
	}
	close(stop)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	e.settle(fmt.Sprintf("MNS: queue service SIGKILLed ×%d mid-stream, restarted", kills), want, 120*time.Second, "")
}

// 2. MNS: 20 % of receives fail with 500 and every delete and visibility
// change is acknowledged 1.5 s late.
func testMNSErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{seed: 6})
	e.mnsF.setRule(func(op string, rng *rand.Rand) action {
		switch op {
		case "receive":
			if rng.Float64() < 0.2 {
				return action{Status: 500, Body: `<?xml version="1.0" encoding="UTF-8"?><Error xmlns="http://mns.aliyuncs.com/doc/v1"><Code>InternalError</Code><Message>injected</Message><RequestId>fault</RequestId><HostId>mns</HostId></Error>`}
			}
		case "delete", "visibility":
			return action{Delay: 1500 * time.Millisecond}
		}
		return action{}
	})
	want := e.spread("mns", 4, 2*time.Second)
	e.settle("MNS: 20 % receive errors + acks 1.5 s late", want, 90*time.Second, fmt.Sprintf("faults %v", e.mnsF.injected()))
}

// 3. Functions: worker and poller SIGKILLed at seeded random points.
func testFunctionKills(t *testing.T) {
	t.Parallel()
	iters, seed := 4, uint64(20260504)
	if full() {
		iters = 24
	}
	// The poller watches pools in flight for 6 s per invocation (as the
	// deployed one does for 55 s), so kills land in long invocations that
	// hold messages.
	e := newEnv(t, envOpts{seed: seed, mutate: func(c *localstack.Config) {
		c.Env = map[string]string{config.EnvPollWatch: "6s"}
	}})
	rng := rand.New(rand.NewPCG(seed, 1))
	want := expectation{}
	busyKills, kills := 0, 0
	for i := range iters {
		name := fmt.Sprintf("fkill-%d", i)
		want[e.submit(name, e.request(name, e.rcv.url+"/ok"))] = callback.TypeActive
		time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
		fn := localstack.FuncWorker
		if rng.IntN(2) == 0 {
			fn = localstack.FuncPoller
		}
		for _, in := range e.st.Runtime().Instances(fn) {
			if in.PID != 0 && syscall.Kill(in.PID, syscall.SIGKILL) == nil {
				kills++
				if in.Busy {
					busyKills++
				}
			}
		}
	}
	e.settle(fmt.Sprintf("Functions: worker/poller SIGKILL ×%d (seed %d), poller invocations watching 6 s", iters, seed), want, 120*time.Second,
		fmt.Sprintf("%d kills, %d mid-invocation", kills, busyKills))
}

// 3. Functions: hostile messages put on the queues directly (garbage,
// truncated JSON, a JSON string, a wrong version, a clear password, a
// huge nesting) must be dead-lettered without stopping the functions;
// requests sent around them still complete.
func testBadMessages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{seed: 8})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	qc := e.queueClient()
	bad := []string{"\x00\xff garbage", `{"Version":1,`, `"just a string"`, `{"Version":99,"RequestId":"r1"}`,
		`{"Version":1,"RequestId":"r2","ReceivedAt":"2026-01-01T00:00:00Z","Source":"queue","Request":{"ClusterId":"eck-demo0001","NodepoolInfo":{"Name":"pw"},"ScalingGroup":{"Password":"Mk9faultMARKER7x"}}}`,
		strings.Repeat("[", 20000), `[]`, `null`}
	for _, b := range bad {
		if _, err := qc.Queue(e.st.Config().RequestsQueue).Send(ctx, b, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := qc.Queue(e.st.Config().TrackingQueue).Send(ctx, b, 0); err != nil {
			t.Fatal(err)
		}
	}
	want := e.spread("bad", 2, time.Second)
	r := e.settle("Functions: 8 malformed messages on each of requests and tracking", want, 60*time.Second, "")
	if r.DLQ < 2*len(bad) {
		t.Errorf("dead letters = %d, want ≥ %d (every bad message recorded)", r.DLQ, 2*len(bad))
	}
	for _, fn := range []string{localstack.FuncWorker, localstack.FuncPoller} {
		for _, in := range e.st.Runtime().Instances(fn) {
			if in.Starts != 1 {
				t.Errorf("%s restarted (%d starts): a handler crashed", in.Name, in.Starts)
			}
		}
	}
	if strings.Contains(e.out.String(), "panic:") {
		t.Errorf("a function panicked")
	}
}

// ---- the MNS service as a child process ----

type mnsProcess struct {
	t    testing.TB
	addr string
	dir  string
	cmd  *exec.Cmd
}

func startMNSProcess(t testing.TB, addr, dir string) *mnsProcess {
	p := &mnsProcess{t: t, addr: addr, dir: dir}
	if err := p.restart(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.kill() })
	return p
}

// restart starts the binary on p.addr (the first start fixes the port).
func (p *mnsProcess) restart() error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		cmd := exec.Command(filepath.Join(binDir, "mnssim"), "-addr", p.addr, "-data", p.dir)
		cmd.Env = append(os.Environ(), "ALIBABA_CLOUD_ACCESS_KEY_ID="+localstack.DevAccessKeyID,
			"ALIBABA_CLOUD_ACCESS_KEY_SECRET="+localstack.DevAccessKeySecret)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		cmd.Stderr = nil
		if err := cmd.Start(); err != nil {
			return err
		}
		sc := bufio.NewScanner(stdout)
		ready := false
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "ready mns=http://") {
				p.addr = strings.Fields(strings.TrimPrefix(l, "ready mns=http://"))[0]
				ready = true
				break
			}
		}
		if ready {
			go func() {
				for sc.Scan() {
				}
			}()
			p.cmd = cmd
			return nil
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if time.Now().After(deadline) {
			return fmt.Errorf("mnssim did not start on %s", p.addr)
		}
		time.Sleep(200 * time.Millisecond) // the port may still be held
	}
}

func (p *mnsProcess) kill() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
	p.cmd = nil
}

// Findings of this suite, fixed with a regression test in the owning
// package and kept here as scenarios:
//   - ens-5xx-answer-lost: pkg/ens retried a create whose 5xx answer came
//     after ENS created the pool, making duplicates (ens.ErrOutcomeUnknown).
//   - mns-sigkill: a tracking write that failed while the queue service
//     restarted waited out the requests queue's visibility timeout
//     (now mns.Config.SendRetry: every send retries within its window).
//   - functions-sigkill, functions-bad-messages, ens-latency: pools checked
//     against a cluster list read before they were created were reported
//     vanished (poller: cluster.newerThan).
