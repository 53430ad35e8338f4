package otssim_test

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/ensnodepool/webhook/pkg/dev/otssim"
)

const childEnv = "OTSSIM_CRASH_CHILD_DIR"

// TestMain doubles as the crash test's child process: with childEnv set
// it serves the durable service on a loopback port, prints "ready <addr>"
// and runs until it is killed.
func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		srv, err := otssim.New(otssim.Config{AccessKeyID: testAK, AccessKeySecret: testSK, Dir: dir})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		ln, err := srv.Listen("127.0.0.1:0")
		if err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Println("ready", ln.Addr())
		_ = http.Serve(ln, srv)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func startChild(t *testing.T, dir string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready ") {
		_ = cmd.Process.Kill()
		t.Fatalf("child: %q %v", line, err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, "http://" + strings.TrimSpace(strings.TrimPrefix(line, "ready "))
}

// TestCrashRecovery SIGKILLs the durable service during a stream of
// conditional puts, deletes and increments (clients without retries, so
// an acknowledgement means exactly one application), restarts it on the
// same data and checks that every acknowledged put is there, no
// acknowledged delete is undone, and the counter counts every
// acknowledged increment and no more than were sent.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	t.Parallel()
	dir := t.TempDir()
	cmd, base := startChild(t, dir)
	setupClient := newClient(t, base, testInstance, testAK, testSK, "", 3)
	createTable(t, setupClient, "ledger", -1, 1, pkSchema{"id", tablestore.PrimaryKeyType_STRING, false})

	var mu sync.Mutex
	acked := map[string]bool{}    // put answered OK
	delTried := map[string]bool{} // delete sent (maybe applied)
	deleted := map[string]bool{}  // delete answered OK
	var incAcked, incSent int
	stop := make(chan struct{})
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			c := newClient(t, base, testInstance, testAK, testSK, "", 0)
			for i := 0; !stopped(); i++ {
				id := fmt.Sprintf("w%d-%06d", w, i)
				if put(c, "ledger", key("id", id), tablestore.RowExistenceExpectation_EXPECT_NOT_EXIST, "v", id) == nil {
					mu.Lock()
					acked[id] = true
					mu.Unlock()
				}
				if i%5 != 4 {
					continue
				}
				del := fmt.Sprintf("w%d-%06d", w, i-2)
				mu.Lock()
				delTried[del] = true
				mu.Unlock()
				ch := &tablestore.DeleteRowChange{TableName: "ledger", PrimaryKey: key("id", del)}
				ch.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
				if _, err := c.DeleteRow(&tablestore.DeleteRowRequest{DeleteRowChange: ch}); err == nil {
					mu.Lock()
					deleted[del] = true
					mu.Unlock()
				}
			}
		})
	}
	wg.Go(func() {
		c := newClient(t, base, testInstance, testAK, testSK, "", 0)
		for !stopped() {
			ch := &tablestore.UpdateRowChange{TableName: "ledger", PrimaryKey: key("id", "counter")}
			ch.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
			ch.IncrementColumn("n", 1)
			mu.Lock()
			incSent++
			mu.Unlock()
			if _, err := c.UpdateRow(&tablestore.UpdateRowRequest{UpdateRowChange: ch}); err == nil {
				mu.Lock()
				incAcked++
				mu.Unlock()
			}
		}
	})
	// Kill once enough traffic has been acknowledged (bounded wait, so a
	// loaded machine slows the test down instead of failing it).
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		enough := len(acked) >= 100 && len(deleted) >= 10 && incAcked >= 20
		mu.Unlock()
		if enough {
			break
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = cmd.Wait()
	close(stop)
	wg.Wait()
	if len(acked) < 100 || len(deleted) < 10 || incAcked < 20 {
		t.Fatalf("too little traffic before the kill: %d puts, %d deletes, %d increments", len(acked), len(deleted), incAcked)
	}

	_, base = startChild(t, dir)
	c := newClient(t, base, testInstance, testAK, testSK, "", 3)
	for id := range acked {
		got := get(t, c, "ledger", key("id", id))
		switch {
		case deleted[id] && got != nil:
			t.Errorf("%s: acknowledged delete undone", id)
		case !delTried[id] && (got == nil || got["v"] != id):
			t.Errorf("%s: acknowledged put lost (read %v)", id, got)
		}
	}
	n, _ := get(t, c, "ledger", key("id", "counter"))["n"].(int64)
	if n < int64(incAcked) || n > int64(incSent) {
		t.Errorf("counter %d after %d acknowledged of %d sent increments", n, incAcked, incSent)
	}
	t.Logf("before the kill: %d puts, %d deletes, %d/%d increments acknowledged; counter %d after restart",
		len(acked), len(deleted), incAcked, incSent, n)
}
