package faults

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/config"
	"github.com/ensnodepool/webhook/pkg/dev/enssim"
	"github.com/ensnodepool/webhook/pkg/dev/localstack"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
	"github.com/ensnodepool/webhook/pkg/ens"
	"github.com/ensnodepool/webhook/pkg/mns"
)

// localProcess is `go run ./scripts/local` as a child process group: the
// stack, its simulators and the function processes it starts.
type localProcess struct {
	t       *testing.T
	args    []string
	env     []string
	out     *testkit.SyncBuffer
	cmd     *exec.Cmd
	http    string
	mns     string
	ens     string
	readyAt time.Time
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startLocal(t *testing.T, sec testkit.Secrets, poll, provision time.Duration) *localProcess {
	t.Helper()
	p := &localProcess{t: t, out: &testkit.SyncBuffer{}, http: freeAddr(t), mns: freeAddr(t), ens: freeAddr(t)}
	testkit.DumpOnFailure(t, p.out)
	p.args = []string{"-http", p.http, "-mns", p.mns, "-ens", p.ens, "-data", filepath.Join(t.TempDir(), "data"),
		"-poll-interval", poll.String(), "-ens-provision", provision.String(), "-bin", binDir}
	p.env = append(os.Environ(), "WEBHOOK_SECRET="+sec.Webhook, "CALLBACK_SECRET="+sec.Callback, "LOG_LEVEL=info")
	p.start()
	t.Cleanup(p.kill)
	return p
}

// start runs the stack and waits for its ready line.
func (p *localProcess) start() {
	p.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "local"), p.args...)
	cmd.Dir, cmd.Env, cmd.Stderr = moduleDir, p.env, p.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		p.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.cmd = cmd
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		ok := false
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "ready ") && !ok {
				ok = true
				ready <- true
			}
		}
		if !ok {
			ready <- false
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			p.t.Fatal("scripts/local exited before it was ready")
		}
	case <-time.After(60 * time.Second):
		p.t.Fatal("scripts/local not ready within 60 s")
	}
	p.readyAt = time.Now()
}

// kill SIGKILLs the whole process group (stack, simulators, functions) and
// waits until none of its processes is left.
func (p *localProcess) kill() {
	if p.cmd == nil {
		return
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	_ = p.cmd.Wait()
	p.cmd = nil
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(-pgid, 0) == nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
}

// ensAdmin reads the simulator's admin API of the child stack.
func (p *localProcess) ensAdmin(path string, v any) error {
	resp, err := http.Get("http://" + p.ens + "/_emulator/" + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %d %s", path, resp.StatusCode, b)
	}
	return json.Unmarshal(b, v)
}

// 6. The whole local stack (the stack process, both simulators and the
// function processes) SIGKILLed while pools are in flight — the worker
// holding a batch, the poller watching — and restarted on the same data.
// The messages the dead processes held come back within the 30 s
// visibility timeout (heartbeats kept them hidden while they lived):
// every pool is created once and reported once.
func testWholeStackKill(t *testing.T) {
	t.Parallel()
	n := 20
	if full() {
		n = 60
	}
	const poll, provision = 2 * time.Second, 15 * time.Second
	sec := testkit.NewSecrets(t)
	rcv := newReceiver(t, sec.Callback)
	tmpl := testkit.Template(t, moduleDir)
	p := startLocal(t, sec, poll, provision)
	ids := map[string]string{} // RequestId → name
	submit := func(i int) {
		name := fmt.Sprintf("crash-%d", i)
		body, err := localstack.Request(tmpl, name, rcv.url+"/ok")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		status, resp, err := localstack.PostCreate(ctx, nil, "http://"+p.http, sec.Webhook, "msg_"+name, body)
		var a localstack.Accepted
		if err != nil || status != http.StatusAccepted || json.Unmarshal(resp, &a) != nil {
			t.Fatalf("submit %s: %d %s %v", name, status, resp, err)
		}
		ids[a.RequestId] = name
	}
	// Half the requests, their pools provisioning and watched by the
	// poller; then the other half, killed while the worker creates them.
	for i := range n / 2 {
		submit(i)
	}
	testkit.Eventually(60*time.Second, func() bool {
		var st enssim.Stats
		return p.ensAdmin("stats", &st) == nil && st.Pools >= n/2
	})
	time.Sleep(2 * poll)
	for i := n / 2; i < n; i++ {
		submit(i)
	}
	testkit.Eventually(30*time.Second, func() bool {
		var st enssim.Stats
		return p.ensAdmin("stats", &st) == nil && st.Pools > n/2
	})
	var before enssim.Stats
	_ = p.ensAdmin("stats", &before)
	killedAt := time.Now()
	p.kill()
	p.start()
	restart := p.readyAt.Sub(killedAt)

	// Sample the pools' activation times from the restarted simulator.
	activeAt := map[string]time.Time{}
	created := time.Time{}
	ctx, cancel := context.WithTimeout(context.Background(), provision+2*time.Minute)
	defer cancel()
	for ctx.Err() == nil {
		var pools struct {
			Pools []ens.NodePool `json:"pools"`
		}
		if err := p.ensAdmin("pools", &pools); err == nil {
			now := time.Now()
			for _, np := range pools.Pools {
				if _, ok := activeAt[np.NodepoolInfo.Name]; !ok && np.Status.State == enssim.StateActive {
					activeAt[np.NodepoolInfo.Name] = now
				}
			}
			if created.IsZero() && len(pools.Pools) >= n {
				created = now
			}
		}
		g := rcv.byRequest()
		done := 0
		for id := range ids {
			if len(g[id][callback.TypeActive]) > 0 {
				done++
			}
		}
		if done == n {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(4 * poll) // late duplicates

	r := row{Fault: fmt.Sprintf("Whole stack SIGKILLed with %d pools in flight (%d created, worker mid-batch), restarted", n, before.Pools),
		Requests: n, Expected: n, Took: time.Since(killedAt)}
	names := map[string]bool{}
	for _, name := range ids {
		names[name] = true
	}
	// The simulator's create counters restart with it; its pools are
	// durable, so a second create of a name would be a second pool.
	var pools struct {
		Pools []ens.NodePool `json:"pools"`
	}
	if err := p.ensAdmin("pools", &pools); err != nil {
		t.Fatal(err)
	}
	perName := map[string]int{}
	for _, np := range pools.Pools {
		if names[np.NodepoolInfo.Name] {
			perName[np.NodepoolInfo.Name]++
			r.Pools++
		}
	}
	for name, k := range perName {
		if k > 1 {
			r.Duplicates += k - 1
			t.Errorf("pool %s created %d times", name, k)
		}
	}
	if r.Pools != n {
		t.Errorf("%d pools for %d requests", r.Pools, n)
	}
	// Resumption: the longest wait of a pool's active callback beyond the
	// moment it could first have been reported after the restart.
	var resume time.Duration
	g := rcv.byRequest()
	for id, name := range ids {
		got := len(g[id][callback.TypeActive])
		switch {
		case got == 0:
			r.Lost++
			t.Errorf("%s: nodepool.active never delivered", name)
			continue
		case got > 1:
			r.Unexpected += got - 1
			t.Errorf("%s: nodepool.active under %d webhook-ids", name, got)
		}
		r.Delivered++
		for typ, ws := range g[id] {
			for _, k := range ws {
				r.SameID += k - 1
			}
			if typ == callback.TypeFailed || typ == callback.TypeTimeout {
				r.Unexpected++
				t.Errorf("%s: unexpected %s", name, typ)
			}
		}
		from := p.readyAt
		if activeAt[name].After(from) {
			from = activeAt[name]
		}
		resume = max(resume, rcv.firstAt(id, callback.TypeActive).Sub(from))
	}
	qc, err := mns.New(mns.Config{Endpoint: "http://" + p.mns, Credentials: mns.Credentials{
		AccessKeyID: localstack.DevAccessKeyID, AccessKeySecret: localstack.DevAccessKeySecret}})
	if err != nil {
		t.Fatal(err)
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	if a, err := qc.Queue(config.DefaultDeadLetterQueue).Attributes(dctx); err == nil {
		r.DLQ = int(a.Active + a.Inactive + a.Delayed)
	}
	createdIn := created.Sub(killedAt)
	r.Note = fmt.Sprintf("restart %.1f s; kill → all %d pools created %.1f s; longest active callback after it was reportable %.1f s",
		restart.Seconds(), n, createdIn.Seconds(), resume.Seconds())
	record(r)
	t.Log(r.Note)
	// Held messages are back within the 30 s visibility timeout of the
	// kill; a check and a timer period on top.
	if limit := localstack.HeldVisibility + 2*poll + 2*time.Second; resume > limit || createdIn > limit+restart {
		t.Errorf("processing resumed after %v (pools created %v after the kill), want ≤ %v", resume, createdIn, limit)
	}
	if r.DLQ != 0 {
		t.Errorf("%d dead letters", r.DLQ)
	}
}
