package intake

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/ensnodepool/webhook/pkg/caller"
)

// chanQueue is a Sender that hands bodies to a draining goroutine, like an
// in-process queue.
type chanQueue chan string

func (q chanQueue) Send(ctx context.Context, body string) (string, error) {
	select {
	case q <- body:
		return "msg", nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// BenchmarkHandler measures the whole intake path in process: read body,
// verify the Standard Webhooks signature (two secrets configured, the
// request signed by the second), strict decode, validate, seal the
// password, marshal the envelope and enqueue it on a channel drained by a
// goroutine. Reports req/s (wall clock, all goroutines) and allocs/op.
//
//	go test -run '^$' -bench BenchmarkHandler -benchmem -cpu 1,2 ./pkg/intake/
func BenchmarkHandler(b *testing.B) {
	q := make(chanQueue, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range q {
		}
	}()
	defer func() { close(q); <-done }()

	bundle := setup(b, func(c *Config) { c.Queue = q; c.Secrets = []string{secretOld, secretNew} })
	body := readFile(b, "ens-doc-example.json")
	signed := post(b, body) // signed with secretNew: the second secret tried
	header := signed.Header

	run := func(b *testing.B, parallel bool) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		one := func(w *discardWriter, rd *bytes.Reader) {
			rd.Reset(body)
			r := httptest.NewRequest(http.MethodPost, "/v1/nodepools", rd)
			r.Header = header
			w.reset()
			bundle.h.ServeHTTP(w, r)
			if w.code != http.StatusAccepted {
				b.Fatalf("status %d", w.code)
			}
		}
		b.ResetTimer()
		if parallel {
			b.RunParallel(func(pb *testing.PB) {
				w, rd := &discardWriter{}, bytes.NewReader(nil)
				for pb.Next() {
					one(w, rd)
				}
			})
		} else {
			w, rd := &discardWriter{}, bytes.NewReader(nil)
			for b.Loop() {
				one(w, rd)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	}
	b.Run("serial", func(b *testing.B) { run(b, false) })
	b.Run("parallel", func(b *testing.B) { run(b, true) })
}

// discardWriter is a minimal http.ResponseWriter.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) reset() {
	if w.h == nil {
		w.h = http.Header{}
	}
	clear(w.h)
	w.code = 0
}
func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return io.Discard.Write(p) }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

// BenchmarkCallers compares intake throughput with one caller (one
// secret) against 100 callers of 2 secrets each, the request signed by the
// last caller's second secret: every request costs one HMAC per secret,
// matched or not (constant time). Same path as BenchmarkHandler, serial.
// The ratio of the two req/s is the "Callers" number of docs/testing.md
// ("Measured in the packages").
//
//	go test -run '^$' -bench BenchmarkCallers -benchmem ./pkg/intake/
func BenchmarkCallers(b *testing.B) {
	body := readFile(b, "ens-doc-example.json")
	for _, n := range []int{1, 100} {
		b.Run(strconv.Itoa(n)+"callers", func(b *testing.B) {
			var list []string
			var last string
			for i := range n {
				s1, s2 := benchSecret(i, 1), benchSecret(i, 2)
				last = s2
				list = append(list, `{"Id":"c`+strconv.Itoa(i)+`","Secrets":["`+s1+`"`+
					map[bool]string{true: `,"` + s2 + `"`, false: ""}[n > 1]+`],"Clusters":["*"],"MaxDesiredSize":10}`)
				if n == 1 {
					last = s1
				}
			}
			set, err := caller.Parse([]byte("[" + strings.Join(list, ",") + "]"))
			if err != nil {
				b.Fatal(err)
			}
			q := make(chanQueue, 1024)
			done := make(chan struct{})
			go func() {
				defer close(done)
				for range q {
				}
			}()
			defer func() { close(q); <-done }()
			bundle := setup(b, func(c *Config) { c.Queue, c.Secrets, c.Callers = q, nil, set })
			r0 := httptest.NewRequest(http.MethodPost, "/v1/nodepools", nil)
			sign(b, r0, last, "msg_bench", testNow, body)
			r0.Header.Set("Content-Type", "application/json")
			b.ReportAllocs()
			w, rd := &discardWriter{}, bytes.NewReader(nil)
			cpu0 := processCPU()
			for b.Loop() {
				rd.Reset(body)
				r := httptest.NewRequest(http.MethodPost, "/v1/nodepools", rd)
				r.Header = r0.Header
				w.reset()
				bundle.h.ServeHTTP(w, r)
				if w.code != http.StatusAccepted {
					b.Fatalf("status %d", w.code)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
			if cpu := processCPU() - cpu0; cpu > 0 {
				// CPU per request: robust to other load on the machine.
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
			}
		})
	}
}

// benchSecret is a distinct 32-byte whsec_ secret per (caller, k).
func benchSecret(i, k int) string {
	raw := []byte(strings.Repeat("x", 26) + strconv.Itoa(100000+i*10+k))
	return "whsec_" + base64.StdEncoding.EncodeToString(raw[:32])
}
