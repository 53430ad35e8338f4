package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRunUntilSignal starts the stack on free ports with the development
// fallbacks, waits for the ready line and shuts it down as SIGINT would.
func TestRunUntilSignal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the stack")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr lockedBuffer
	done := make(chan error, 1)
	args := []string{"-http", "127.0.0.1:0", "-mns", "127.0.0.1:0", "-ens", "127.0.0.1:0", "-data", t.TempDir(), "-poll-interval", "1s"}
	go func() { done <- run(ctx, args, func(string) string { return "" }, &stdout, &stderr) }()
	deadline := time.After(90 * time.Second)
	for !strings.Contains(stdout.String(), "\nready http=") || !strings.Contains(stdout.String(), "MNS inspection") {
		select {
		case err := <-done:
			t.Fatalf("run ended early: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
		case <-deadline:
			t.Fatalf("no ready line\nstdout:\n%s", stdout.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	for _, want := range []string{"WEBHOOK_SECRET=whsec_", "CALLBACK_SECRET=", "SEAL_KEYS=", "ALIBABA_CLOUD_ACCESS_KEY_ID="} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout does not print the defaulted %s", want)
		}
	}
	// The printed inspection API answers with the stack's queues.
	m := regexp.MustCompile(`MNS inspection (http://127\.0\.0\.1:\d+/_emulator/queues) `).FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("stdout does not say where the MNS inspection API is:\n%s", stdout.String())
	}
	resp, err := http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	var qs struct{ Queues []struct{ Name string } }
	err = json.NewDecoder(resp.Body).Decode(&qs)
	resp.Body.Close()
	if err != nil || len(qs.Queues) < 3 {
		t.Fatalf("GET %s: %+v %v", m[1], qs, err)
	}
	cancel() // what SIGINT/SIGTERM do through signal.NotifyContext
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after shutdown = %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no graceful shutdown within 20s")
	}
}

func TestRunRefusesDevKeysWithRealEndpoints(t *testing.T) {
	env := map[string]string{"ENS_ENDPOINT": "ens.aliyuncs.com"}
	var out bytes.Buffer
	err := run(context.Background(), []string{"-data", t.TempDir()}, func(k string) string { return env[k] }, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "ALIBABA_CLOUD_ACCESS_KEY_ID") {
		t.Fatalf("run = %v, want a refusal naming the key pair", err)
	}
}

func TestRunBadFlag(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-nope"}, func(string) string { return "" }, &out, &out); err == nil {
		t.Fatal("run(-nope) = nil")
	}
}
