package bmc

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync/atomic"
	"time"
)

// Retry says how often and how patiently a request is retried.
type Retry struct {
	// Attempts is the number of tries in all (default 5).
	Attempts int
	// Base is the first backoff, doubled on each retry up to Max
	// (defaults 500ms and 8s), with up to 50% jitter.
	Base, Max time.Duration
}

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 {
		r.Attempts = 5
	}
	if r.Base <= 0 {
		r.Base = 500 * time.Millisecond
	}
	if r.Max <= 0 {
		r.Max = 8 * time.Second
	}
	return r
}

func (r Retry) backoff(attempt int) time.Duration {
	d := r.Base << min(attempt-1, 20)
	if d > r.Max || d <= 0 {
		d = r.Max
	}
	return d/2 + rand.N(d/2+1)
}

// maxBody bounds what is read of one answer; Redfish resources are small.
const maxBody = 4 << 20

// retryTransport retries one HTTP request with backoff. Each attempt has
// its own deadline that covers reading the whole body, so a stalled body
// is a timeout like any other; the body is buffered before it is handed
// to gofish.
type retryTransport struct {
	next    http.RoundTripper
	retry   Retry
	perTry  time.Duration
	log     *slog.Logger
	node    string
	retried func() // counts retries, for tests and status
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 1; ; attempt++ {
		resp, body, written, err := t.once(req)
		retry, why := shouldRetry(req.Method, resp, body, written, err)
		if !retry || attempt >= t.retry.Attempts || req.Context().Err() != nil {
			switch {
			case err == nil:
				return resp, nil
			case req.Context().Err() != nil && !errors.Is(err, req.Context().Err()):
				// The caller's deadline is the cause, whatever the
				// broken connection said (EOF, reset).
				return nil, fmt.Errorf("%w (%v)", req.Context().Err(), err)
			}
			return nil, err
		}
		wait := t.retry.backoff(attempt)
		if resp != nil {
			if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && ra >= 0 {
				wait = min(max(wait, time.Duration(ra)*time.Second), t.retry.Max)
			}
		}
		t.log.Debug("retrying iDRAC request", "bmc", t.node, "method", req.Method, "path", req.URL.Path,
			"attempt", attempt, "reason", why, "backoff", wait)
		if t.retried != nil {
			t.retried()
		}
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-req.Context().Done():
			timer.Stop()
			return nil, req.Context().Err()
		}
	}
}

// once makes one attempt and reads the whole answer under its deadline.
func (t *retryTransport) once(req *http.Request) (*http.Response, []byte, bool, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.perTry)
	defer cancel()
	// The transport writes on its own goroutine: the flag is atomic.
	var written atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { written.Store(true) },
	})
	r := req.Clone(ctx)
	if req.Body != nil && req.GetBody != nil {
		b, err := req.GetBody()
		if err != nil {
			return nil, nil, false, err
		}
		r.Body = b
	}
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, nil, written.Load(), perTryErr(ctx, req.Context(), err, t.perTry)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, nil, written.Load(), perTryErr(ctx, req.Context(), fmt.Errorf("reading the answer: %w", err), t.perTry)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, body, written.Load(), nil
}

// perTryErr names an attempt's own deadline, which the parent context
// does not know about.
func perTryErr(try, parent context.Context, err error, d time.Duration) error {
	if parent.Err() == nil && errors.Is(try.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no complete answer within %v: %w", d, errTryTimeout{err})
	}
	return err
}

// errTryTimeout marks an attempt that ran out of time.
type errTryTimeout struct{ err error }

func (e errTryTimeout) Error() string { return e.err.Error() }
func (e errTryTimeout) Unwrap() error { return e.err }
func (e errTryTimeout) Timeout() bool { return true }

// idempotent methods can be sent twice with the effect of once (RFC 9110
// 9.2.2); Redfish PATCHes of the same values are too.
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return true
	}
	return false
}

// shouldRetry decides whether an attempt is worth repeating, and why.
func shouldRetry(method string, resp *http.Response, body []byte, written bool, err error) (bool, string) {
	if err != nil {
		var cv *tls.CertificateVerificationError
		var ua x509.UnknownAuthorityError
		var hn x509.HostnameError
		switch {
		case errors.Is(err, ErrCertMismatch), errors.As(err, &cv), errors.As(err, &ua), errors.As(err, &hn):
			return false, ""
		case !written:
			// Nothing reached the iDRAC: safe for any method.
			return true, err.Error()
		case idempotent(method):
			return true, err.Error()
		}
		return false, ""
	}
	switch {
	case bytes.Contains(body, []byte("SWC0700")):
		return true, "iDRAC not ready (SWC0700)"
	case resp.StatusCode == http.StatusServiceUnavailable:
		// iDRACs answer 503 before acting (busy, session limit).
		return true, resp.Status
	case resp.StatusCode >= 500 && idempotent(method):
		return true, resp.Status
	}
	return false, ""
}
