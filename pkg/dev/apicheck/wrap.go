package apicheck

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
)

// Transport returns a RoundTripper that sends each request through next
// (http.DefaultTransport if nil) and checks the exchange. Failures are
// recorded, not returned: the caller gets the response as sent.
func (c *Checker) Transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripper{c: c, next: next}
}

type roundTripper struct {
	c    *Checker
	next http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	reqBody, err := drain(req.Body)
	if err != nil {
		return nil, err
	}
	sent := req.Clone(req.Context())
	sent.Body = readCloser(reqBody)
	if req.Body == nil || req.Body == http.NoBody {
		sent.Body = req.Body
	}
	resp, err := t.next.RoundTrip(sent)
	if err != nil {
		return nil, err
	}
	respBody, err := drain(resp.Body)
	if err != nil {
		return nil, err
	}
	resp.Body = readCloser(respBody)
	_ = t.c.CheckExchange(req.Context(), Exchange{Request: req, RequestBody: reqBody, Status: resp.StatusCode, Header: resp.Header, Body: respBody})
	return resp, nil
}

// Handler returns a handler that serves each request with next and checks
// the exchange. The answer is buffered, then written as next wrote it.
func (c *Checker) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqBody, err := drain(r.Body)
		if err != nil {
			http.Error(w, "apicheck: reading the request body: "+err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = readCloser(reqBody)
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		_ = c.CheckExchange(r.Context(), Exchange{Request: r, RequestBody: reqBody, Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()})
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

// Receiver returns a handler that checks each callback it receives
// (CheckCallback) and then hands it to next.
func (c *Checker) Receiver(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := drain(r.Body)
		if err != nil {
			http.Error(w, "apicheck: reading the callback body: "+err.Error(), http.StatusBadRequest)
			return
		}
		_ = c.CheckCallback(r.Context(), r.Header, b)
		r.Body = readCloser(b)
		next.ServeHTTP(w, r)
	})
}

// drain reads and closes rc (nil is empty).
func drain(rc io.ReadCloser) ([]byte, error) {
	if rc == nil || rc == http.NoBody {
		return nil, nil
	}
	defer rc.Close()
	var buf bytes.Buffer
	_, err := buf.ReadFrom(rc)
	return buf.Bytes(), err
}
