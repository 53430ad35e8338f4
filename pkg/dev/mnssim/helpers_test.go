package mnssim_test

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"
	"github.com/gogap/errors"
	"github.com/valyala/fasthttp"

	"github.com/ensnodepool/webhook/pkg/dev/mnssim"
	"github.com/ensnodepool/webhook/pkg/dev/testkit"
)

const (
	testAK = "test-ak"
	testSK = "test-secret"
	// fakeEndpoint satisfies the SDK's endpoint parser; redirect sends requests elsewhere.
	fakeEndpoint = "http://1234567890.mns.cn-hangzhou.aliyuncs.com"
)

// newClock returns an injectable clock that starts at the real time (so
// SDK Date headers stay fresh).
func newClock() *testkit.Clock { return testkit.NewClock(time.Now()) }

type redirect struct{ hc *fasthttp.HostClient }

func (r redirect) RoundTrip(_ *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) (bool, error) {
	return false, r.hc.Do(req, resp)
}

type bundle struct {
	srv   *mnssim.Server
	http  *httptest.Server
	clock *testkit.Clock
	cli   ali_mns.MNSClient
	mgr   ali_mns.AliQueueManager
}

// setup starts an in-memory service (or durable under dir) with a fake clock and an SDK client.
func setup(t *testing.T, dir string) *bundle {
	t.Helper()
	c := newClock()
	m := testkit.StartMNS(t, mnssim.Config{AccessKeyID: testAK, AccessKeySecret: testSK, Dir: dir, Now: c.Now})
	srv, hs := m.Server, m.HTTP
	cli := sdkClient(t, hs.URL, testAK, testSK, "")
	return &bundle{srv: srv, http: hs, clock: c, cli: cli, mgr: ali_mns.NewMNSQueueManager(cli)}
}

func sdkClient(t testing.TB, base, ak, sk, token string) ali_mns.MNSClient {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	cli := ali_mns.NewAliMNSClientWithConfig(ali_mns.AliMNSClientConfig{
		EndPoint: fakeEndpoint, AccessKeyId: ak, AccessKeySecret: sk, Token: token, TimeoutSecond: 35,
	})
	cli.SetTransport(redirect{&fasthttp.HostClient{Addr: u.Host}})
	return cli
}

func (b *bundle) queue(t *testing.T, name string, opts ...ali_mns.QueueOption) ali_mns.AliMNSQueue {
	t.Helper()
	if err := b.mgr.CreateQueueWithOptions(name, opts...); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return ali_mns.NewMNSQueue(name, b.cli)
}

// code returns the SDK error number (MNS#n), or 0.
func code(err error) uint64 {
	if ec, ok := err.(errors.ErrCode); ok {
		return ec.Code()
	}
	return 0
}

func wantCode(t *testing.T, err error, want uint64) {
	t.Helper()
	if got := code(err); got != want {
		t.Fatalf("error code: got %d (%v), want %d", got, err, want)
	}
}

func receive(q ali_mns.AliMNSQueue, wait ...int64) (ali_mns.MessageReceiveResponse, error) {
	rc := make(chan ali_mns.MessageReceiveResponse, 1)
	ec := make(chan error, len(wait)+1)
	q.ReceiveMessage(rc, ec, wait...)
	select {
	case m := <-rc:
		return m, nil
	default:
		return ali_mns.MessageReceiveResponse{}, <-ec
	}
}

func batchReceive(q ali_mns.AliMNSQueue, n int32, wait ...int64) (ali_mns.BatchMessageReceiveResponse, error) {
	rc := make(chan ali_mns.BatchMessageReceiveResponse, 1)
	ec := make(chan error, len(wait)+1)
	q.BatchReceiveMessage(rc, ec, n, wait...)
	select {
	case m := <-rc:
		return m, nil
	default:
		return ali_mns.BatchMessageReceiveResponse{}, <-ec
	}
}

func peek(q ali_mns.AliMNSQueue) (ali_mns.MessageReceiveResponse, error) {
	rc := make(chan ali_mns.MessageReceiveResponse, 1)
	ec := make(chan error, 1)
	q.PeekMessage(rc, ec)
	select {
	case m := <-rc:
		return m, nil
	default:
		return ali_mns.MessageReceiveResponse{}, <-ec
	}
}

// raw sends a hand-signed request, as an SDK of another language would, and returns status and body.
func raw(t *testing.T, base, method, resource string, body []byte, mutate func(*http.Request)) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+resource, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(body)
	req.Header.Set("Content-MD5", base64.StdEncoding.EncodeToString([]byte(hex.EncodeToString(sum[:]))))
	req.Header.Set("Content-Type", "text/xml;charset=utf-8")
	req.Header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	req.Header.Set("x-mns-version", "2015-06-06")
	if mutate != nil {
		mutate(req)
	}
	req.Header.Set("Authorization", "MNS "+testAK+":"+mnssim.Sign(testSK, method, req.Header, stripPrefix(resource)))
	if mutate != nil { // let mutate override the signature too
		mutate(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// stripPrefix removes a leading endpoint path segment that contains a dot.
func stripPrefix(resource string) string {
	if len(resource) > 1 {
		rest := resource[1:]
		for i := 0; i < len(rest); i++ {
			if rest[i] == '/' {
				seg := rest[:i]
				for j := 0; j < len(seg); j++ {
					if seg[j] == '.' {
						return rest[i:]
					}
				}
				break
			}
		}
	}
	return resource
}
