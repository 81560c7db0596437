package metrics

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Middleware counts the requests next answers, by the route pattern that
// took them (the innermost http.ServeMux pattern, method left out),
// method and status. Requests no pattern took count as route
// "unmatched", so that scanners cannot blow up the series.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		route := r.Pattern
		if i := strings.IndexByte(route, ' '); i >= 0 {
			route = route[i+1:]
		}
		if route == "" {
			route = "unmatched"
		}
		code := rec.code
		if code == 0 {
			code = http.StatusOK
		}
		m.ObserveHTTP(route, r.Method, code, time.Since(start))
	})
}

// ObserveHTTP counts one request of route (a pattern's path) that took
// d: what Middleware counts for each request it wraps, for a response
// the HTTP server makes without a handler (its install-tree lane).
func (m *Metrics) ObserveHTTP(route, method string, code int, d time.Duration) {
	m.httpRequests.WithLabelValues(route, methodLabel(method), strconv.Itoa(code)).Inc()
	m.httpSeconds.WithLabelValues(route).Observe(d.Seconds())
}

// methodLabel keeps the method label to the methods the appliance
// answers.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete:
		return m
	}
	return "other"
}

// statusRecorder notes the status code. Unwrap lets
// http.ResponseController reach the connection (flushes for streams,
// write deadlines for install trees); ReadFrom keeps sendfile.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) ReadFrom(r io.Reader) (int64, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return io.Copy(s.ResponseWriter, r)
}

// Flush is here for handlers that test for http.Flusher themselves.
func (s *statusRecorder) Flush() { _ = http.NewResponseController(s.ResponseWriter).Flush() }

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
