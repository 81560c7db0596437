package api

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/provision/provision/internal/store"
	"github.com/provision/provision/provision"
)

// StreamEvent is the data of one Server-Sent Event: a recorded event
// and, for a live one, the status it left its node in. Replayed events
// (?since=) carry no status: the node's status now is in /api/v1/nodes.
type StreamEvent struct {
	Event  provision.Event   `json:"event"`
	Status *provision.Status `json:"status,omitempty"`
}

// sseBuffer is how many updates a stream may fall behind before the
// tracker drops some for it; a client sees the gap in the ids and reloads
// the nodes.
const sseBuffer = 1024

// stream serves the events as Server-Sent Events (event "update", id the
// event's sequence number) until the client goes or the server stops.
// ?since=SEQ, or the Last-Event-ID header of a reconnecting EventSource,
// first replays the stored events after SEQ; ?node=NAME keeps one node's.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	since, replay, err := streamStart(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	node := r.URL.Query().Get("node")
	if node != "" {
		if _, ok := s.Plan().Node(node); !ok {
			writeError(w, http.StatusNotFound, fmt.Sprintf("no node %q in the site", node))
			return
		}
	}
	ctx := r.Context()
	// Subscribe before reading the log, so that no event falls between
	// the replay and the live updates; those already replayed are
	// skipped by their sequence number.
	updates := s.Tracker.Subscribe(ctx, sseBuffer)
	var backlog []provision.Event
	if replay {
		if backlog, err = s.Events(store.Filter{After: since, Node: node}); err != nil {
			s.logger().Error("event stream: read events", "err", err)
			writeError(w, http.StatusInternalServerError, "cannot read the event log")
			return
		}
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream lasts as long as the client stays
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriter(w)
	fmt.Fprint(bw, "retry: 2000\n: provision node events\n\n")
	last := since
	for _, e := range backlog {
		writeSSE(bw, StreamEvent{Event: e})
		last = e.Seq
	}
	if bw.Flush() != nil || rc.Flush() != nil {
		return
	}
	keep := time.NewTicker(s.keepAlive())
	defer keep.Stop()
	for {
		select {
		case u, ok := <-updates:
			if !ok {
				return // the request's context ended
			}
			if u.Event.Seq <= last || (node != "" && u.Event.Node != node) {
				continue
			}
			last = u.Event.Seq
			st := u.Status
			var sp *provision.Status
			if u.Event.Node != "" {
				sp = &st
			}
			writeSSE(bw, StreamEvent{Event: u.Event, Status: sp})
		case <-keep.C:
			fmt.Fprint(bw, ": keep-alive\n\n")
		case <-ctx.Done():
			return
		}
		if bw.Flush() != nil || rc.Flush() != nil {
			return // the client went away
		}
	}
}

// streamStart reads where a stream starts: ?since=SEQ, else a
// reconnecting client's Last-Event-ID; replay says whether either was
// given.
func streamStart(r *http.Request) (since uint64, replay bool, err error) {
	v := r.URL.Query().Get("since")
	if v == "" {
		v = r.Header.Get("Last-Event-ID")
	}
	if v == "" {
		return 0, false, nil
	}
	since, err = strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("since: %q is not an event sequence number", v)
	}
	return since, true, nil
}

// writeSSE writes one event. JSON has no raw newlines, so the data is
// one line.
func writeSSE(w *bufio.Writer, ev StreamEvent) {
	data, err := json.Marshal(ev)
	if err != nil {
		return // events are plain strings and numbers; cannot fail
	}
	fmt.Fprintf(w, "id: %d\nevent: update\ndata: %s\n\n", ev.Event.Seq, data)
}

func (s *Server) keepAlive() time.Duration {
	if s.KeepAlive > 0 {
		return s.KeepAlive
	}
	return 15 * time.Second
}
