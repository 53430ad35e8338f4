package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/ensnodepool/webhook/pkg/worker"
)

var update = flag.Bool("update", false, "rewrite golden files")

// goldenResult is the stable part of what one trigger payload produced.
type goldenResult struct {
	Items       []worker.Item
	DeadLetters []goldenDeadLetter
	Pools       int
}

type goldenDeadLetter struct{ Code, RequestId, Reason, Body string }

// TestTriggerShapes handles each documented MNS trigger payload shape
// — a single CloudEvent, an array of CloudEvents, an array of JSON
// strings, base64 bodies — and compares the outcome with its golden file.
// The CloudEvents array is the repository's sample, events/mns-batch.json.
func TestTriggerShapes(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"trigger-single", "trigger-array", "trigger-strings", "trigger-base64"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, options{})
			in := filepath.Join("testdata", name+".json")
			if name == "trigger-array" {
				in = filepath.Join("..", "..", "events", "mns-batch.json")
			}
			payload, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			res, err := b.w.HandlePayload(context.Background(), payload)
			if err != nil {
				t.Fatal(err)
			}
			got := goldenResult{Items: res.Items, Pools: b.ens.Stats().Pools, DeadLetters: []goldenDeadLetter{}}
			for i := range got.Items {
				if got.Items[i].NodepoolId != "" {
					got.Items[i].NodepoolId = "np*" // random per run
				}
			}
			for _, dl := range b.deadLetters(t) {
				got.DeadLetters = append(got.DeadLetters, goldenDeadLetter{dl.Code, dl.RequestId, dl.Reason, dl.Body})
			}
			gotJSON, err := json.MarshalIndent(got, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			gotJSON = append(gotJSON, '\n')
			path := filepath.Join("testdata", name+".golden.json")
			if *update {
				if err := os.WriteFile(path, gotJSON, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(gotJSON, want) {
				t.Errorf("%s differs from %s (run with -update to accept):\n%s", name, path, gotJSON)
			}
		})
	}
}
