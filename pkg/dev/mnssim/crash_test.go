package mnssim_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"

	"github.com/ensnodepool/webhook/pkg/dev/mnssim"
)

const childEnv = "MNSSIM_CRASH_CHILD_DIR"

// serveChild is the crash test's child process (TestMain runs it when
// childEnv names a directory): it serves the durable service on dir from a
// loopback port, prints "ready <addr>" and runs until it is killed.
func serveChild(dir string) {
	srv, err := mnssim.New(mnssim.Config{AccessKeyID: testAK, AccessKeySecret: testSK, Dir: dir})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	fmt.Println("ready", ln.Addr())
	_ = http.Serve(ln, srv)
	os.Exit(0)
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

// TestCrashRecovery SIGKILLs the service during a stream of sends, receives and deletes, restarts
// it on the same data and checks that every acknowledged send that was not deleted is delivered,
// that no acknowledged delete is undone, and that nothing is delivered twice within a visibility
// window.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	t.Parallel()
	dir := t.TempDir()
	cmd, base := startChild(t, dir)
	if err := ali_mns.NewMNSQueueManager(sdkClient(t, base, testAK, testSK, "")).CreateQueueWithOptions("crash", ali_mns.WithVisibilityTimeout(2)); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	acked := map[string]bool{}      // send answered 2xx
	delTried := map[string]bool{}   // delete sent (maybe applied)
	deleted := map[string]bool{}    // delete answered 2xx
	invisible := map[string]int64{} // body -> NextVisibleTime of its last receive before the kill
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := ali_mns.NewMNSQueue("crash", sdkClient(t, base, testAK, testSK, ""))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := fmt.Sprintf("m-%d-%d", w, i)
				if _, err := q.SendMessage(ali_mns.MessageSendRequest{MessageBody: body}); err == nil {
					mu.Lock()
					acked[body] = true
					mu.Unlock()
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		q := ali_mns.NewMNSQueue("crash", sdkClient(t, base, testAK, testSK, ""))
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			got, err := batchReceive(q, 16)
			if err != nil {
				continue
			}
			for j, m := range got.Messages {
				mu.Lock()
				invisible[m.MessageBody] = m.NextVisibleTime
				mu.Unlock()
				if (i+j)%2 == 0 {
					continue // leave it in flight
				}
				mu.Lock()
				delTried[m.MessageBody] = true
				mu.Unlock()
				if q.DeleteMessage(m.ReceiptHandle) == nil {
					mu.Lock()
					deleted[m.MessageBody] = true
					mu.Unlock()
				}
			}
		}
	}()
	// Kill once enough traffic has been acknowledged (bounded wait, so a
	// loaded machine slows the test down instead of failing it).
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		enough := len(acked) >= 50 && len(deleted) >= 5
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
	if len(acked) < 50 || len(deleted) < 5 {
		t.Fatalf("too little traffic before the kill: %d acked, %d deleted", len(acked), len(deleted))
	}

	_, base = startChild(t, dir)
	q := ali_mns.NewMNSQueue("crash", sdkClient(t, base, testAK, testSK, ""))
	seen := map[string]bool{}
	missing := func() int {
		n := 0
		for b := range acked {
			if !delTried[b] && !seen[b] {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(8 * time.Second)
	for missing() > 0 && time.Now().Before(deadline) {
		got, err := batchReceive(q, 16, 1)
		if err != nil {
			continue
		}
		now := time.Now().UnixMilli()
		var handles []string
		for _, m := range got.Messages {
			b := m.MessageBody
			switch {
			case deleted[b]:
				t.Errorf("%s: acknowledged delete undone", b)
			case seen[b]:
				t.Errorf("%s: delivered twice after restart", b)
			case invisible[b] > now:
				t.Errorf("%s: delivered %d ms before its visibility timeout ended", b, invisible[b]-now)
			}
			seen[b] = true
			handles = append(handles, m.ReceiptHandle)
		}
		if _, err := q.BatchDeleteMessage(handles...); err != nil {
			t.Fatalf("delete: %v", err)
		}
	}
	if n := missing(); n > 0 {
		t.Fatalf("%d acknowledged messages lost (of %d acked)", n, len(acked))
	}
	t.Logf("acked %d, deleted %d before the kill; %d delivered after restart", len(acked), len(deleted), len(seen))
}
