package idracsim

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// FaultKind is a way an iDRAC misbehaves.
type FaultKind int

// Fault kinds.
const (
	// FaultLatency delays the answer by Delay.
	FaultLatency FaultKind = iota + 1
	// FaultStatus answers Status (500 by default) with a Dell message:
	// 503 gets SWC0700 "iDRAC is not ready", anything else InternalError.
	FaultStatus
	// FaultStallBody sends the headers and part of the body, then stalls
	// for Delay or until the client goes away.
	FaultStallBody
	// FaultDrop closes the connection once the request is read, without
	// an answer and without acting on the request.
	FaultDrop
	// FaultStallTLS accepts the TCP connection and never starts the TLS
	// handshake (for Delay, or until the server stops).
	FaultStallTLS
)

func (k FaultKind) String() string {
	switch k {
	case FaultLatency:
		return "latency"
	case FaultStatus:
		return "status"
	case FaultStallBody:
		return "stall-body"
	case FaultDrop:
		return "drop"
	case FaultStallTLS:
		return "stall-tls"
	}
	return "unknown"
}

// Fault is one injected misbehaviour.
type Fault struct {
	Kind FaultKind
	// Times is how many requests (connections, for FaultStallTLS) it
	// hits; 0 means every one until ClearFaults.
	Times int
	// Method and Path, when set, restrict it to matching requests (Path
	// is a prefix).
	Method, Path string
	// Status is the HTTP status of FaultStatus.
	Status int
	// Delay is the latency or the length of a stall (default 1 minute).
	Delay time.Duration
}

type faults struct {
	mu   sync.Mutex
	list []*Fault
}

// Inject adds a fault. Faults are checked in the order injected.
func (s *Sim) Inject(f Fault) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if f.Kind == FaultStatus && f.Status == 0 {
		f.Status = http.StatusInternalServerError
	}
	if f.Delay == 0 && f.Kind != FaultLatency {
		f.Delay = time.Minute
	}
	s.faults.list = append(s.faults.list, &f)
}

// ClearFaults removes every fault.
func (s *Sim) ClearFaults() {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.list = nil
}

// take returns the first fault of one of kinds matching the request and
// uses one of its Times.
func (f *faults) take(method, path string, kinds ...FaultKind) *Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, x := range f.list {
		if !kindIn(x.Kind, kinds) || (x.Method != "" && x.Method != method) || !strings.HasPrefix(path, x.Path) {
			continue
		}
		cp := *x
		if x.Times > 0 {
			x.Times--
			if x.Times == 0 {
				f.list = append(f.list[:i:i], f.list[i+1:]...)
			}
		}
		return &cp
	}
	return nil
}

func kindIn(k FaultKind, kinds []FaultKind) bool {
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
}

// withFaults applies the request faults before next handles the request.
func (s *Sim) withFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := s.faults.take(r.Method, r.URL.Path, FaultLatency); f != nil {
			if !sleepCtx(r.Context(), f.Delay) {
				// Never answer a request given up on: an empty 200
				// would reach a client whose connection is still open.
				panic(http.ErrAbortHandler)
			}
		}
		f := s.faults.take(r.Method, r.URL.Path, FaultStatus, FaultStallBody, FaultDrop)
		if f == nil {
			next.ServeHTTP(w, r)
			return
		}
		switch f.Kind {
		case FaultStatus:
			m := msgInternal
			if f.Status == http.StatusServiceUnavailable {
				m = msgNotReady
			}
			writeError(w, f.Status, m)
		case FaultStallBody:
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", "4096")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(`{"@odata.id": "/redfish/v1", "Name": `))
			if fl, ok := w.(http.Flusher); ok {
				fl.Flush()
			}
			sleepCtx(r.Context(), f.Delay)
			// Returning with the body short makes the server close the
			// connection.
		case FaultDrop:
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
			panic(http.ErrAbortHandler)
		}
	})
}

// sleepCtx waits d or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// stallListener holds back connections hit by FaultStallTLS: they are
// accepted by the kernel but never see a TLS ServerHello.
type stallListener struct {
	net.Listener
	ctx    context.Context
	faults *faults
	wg     *sync.WaitGroup
}

func (l stallListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		f := l.faults.take("", "", FaultStallTLS)
		if f == nil {
			return c, nil
		}
		// The goroutine ends after the stall, or when the server stops.
		l.wg.Go(func() {
			sleepCtx(l.ctx, f.Delay)
			c.Close()
		})
	}
}

// Slow is the latency profile of a busy iDRAC 7: logins and actions (every
// POST: a session, a reset, a job) answer d late, everything else (reads,
// boot-override PATCHes, logouts) a quarter of d. Inject each fault, in
// order: the first that matches a request delays it.
func Slow(d time.Duration) []Fault {
	return []Fault{
		{Kind: FaultLatency, Method: http.MethodPost, Delay: d},
		{Kind: FaultLatency, Delay: d / 4},
	}
}
