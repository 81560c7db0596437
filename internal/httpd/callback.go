package httpd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode"

	"github.com/provision/provision/internal/store"
	"github.com/provision/provision/provision"
)

// MaxCallbackBytes is the largest callback body accepted.
const MaxCallbackBytes = 8 << 10

// maxMessage is the longest message kept from a callback, in bytes.
const maxMessage = 1024

// Callback kinds an installer reports. The kickstart's report function
// sends installing, installed and failed as "state"; pre-start and
// post-start name the start of %pre and %post.
const (
	KindPreStart   = "pre-start"
	KindPostStart  = "post-start"
	KindInstalling = "installing"
	KindInstalled  = "installed"
	KindFailed     = "failed"
)

// ErrBadCallback is returned for a callback body that is not one JSON
// object of the expected shape.
var ErrBadCallback = errors.New("bad callback body")

// Callback is what an installer reports.
type Callback struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

// ParseCallback reads a callback body: one JSON object with "kind" (or
// "state", as the kickstart sends it) and an optional "message". Unknown
// fields and trailing data are refused; the message is cut to 1 KiB and
// control characters become spaces, so it is safe in a log line.
func ParseCallback(body []byte) (Callback, error) {
	var in struct {
		Kind    *string `json:"kind"`
		State   *string `json:"state"`
		Message string  `json:"message"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return Callback{}, fmt.Errorf("%w: %v", ErrBadCallback, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Callback{}, fmt.Errorf("%w: data after the object", ErrBadCallback)
	}
	var kind string
	switch {
	case in.Kind != nil && in.State != nil && *in.Kind != *in.State:
		return Callback{}, fmt.Errorf("%w: kind and state differ", ErrBadCallback)
	case in.Kind != nil:
		kind = *in.Kind
	case in.State != nil:
		kind = *in.State
	}
	switch kind {
	case KindPreStart, KindPostStart, KindInstalling, KindInstalled, KindFailed:
	default:
		return Callback{}, fmt.Errorf("%w: unknown kind", ErrBadCallback)
	}
	msg := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return ' '
		}
		return r
	}, in.Message)
	if len(msg) > maxMessage {
		msg = strings.ToValidUTF8(msg[:maxMessage], "")
	}
	return Callback{Kind: kind, Message: msg}, nil
}

// callback takes an installer's report. "installed" turns the node's
// netboot off, durably, before the 200: see the package documentation.
func (s *Server) callback(w http.ResponseWriter, r *http.Request) {
	node := s.authNode(w, r, "callback")
	if node == nil {
		return
	}
	ev := provision.Event{Node: node.Name, IP: peer(r).String()}
	body, ok := s.readBody(w, r, ev, "callback", MaxCallbackBytes)
	if !ok {
		return
	}
	cb, err := ParseCallback(body)
	if err != nil {
		s.refuse(w, r, ev, "callback", "bad-body", http.StatusBadRequest)
		return
	}
	netboot := ""
	if cb.Kind == KindInstalled {
		// bbolt commits and fsyncs before SetFlag returns.
		if err := s.Flags.SetFlag(node.Name, store.FlagNetboot, false); err != nil {
			s.logger().Error("callback: turn netboot off", "node", node.Name, "err", err)
			http.Error(w, "could not record the install, try again", http.StatusInternalServerError)
			return
		}
		netboot = "off"
	}
	ev.Kind, ev.Msg = cb.Kind, cb.Message
	if netboot != "" {
		ev.Attrs = map[string]string{"netboot": netboot}
	}
	s.emit(ev)
	s.logger().Info("callback", "node", node.Name, "ip", ev.IP, "state", cb.Kind)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(struct {
		Node    string `json:"node"`
		Kind    string `json:"kind"`
		Netboot string `json:"netboot,omitempty"`
	}{node.Name, cb.Kind, netboot})
}

// readBody reads a node's request body, at most limit bytes; a larger one
// is refused (413, an event), a broken one answered 400.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, ev provision.Event, what string, limit int64) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err == nil {
		return body, true
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		s.refuse(w, r, ev, what, "too-large", http.StatusRequestEntityTooLarge)
		return nil, false
	}
	s.logger().Warn(what+": read body", "node", ev.Node, "err", err)
	http.Error(w, "bad request", http.StatusBadRequest)
	return nil, false
}
