package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/provision/provision/internal/tracker"
	"github.com/provision/provision/provision"
)

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// follow shows a rollout's progress: on a terminal, one live line per node
// with a bar of its install stages and its current step, redrawn as
// events come; elsewhere, a plain line per state change.
func (a *app) follow(updates <-chan tracker.Update, nodes []*provision.NodePlan) {
	if !isTerminal(a.stdout) || len(nodes) == 0 {
		a.printProgress(updates)
		return
	}
	type row struct {
		st    provision.Status
		step  string
		start time.Time
	}
	rows := map[string]*row{}
	for _, n := range nodes {
		rows[n.Name] = &row{st: provision.Status{Node: n.Name, State: provision.StateNew}, step: "waiting"}
	}
	drawn := 0
	draw := func() {
		var b strings.Builder
		if drawn > 0 {
			fmt.Fprintf(&b, "\x1b[%dA", drawn) // back to the first line
		}
		for _, n := range nodes {
			r := rows[n.Name]
			elapsed := ""
			if !r.start.IsZero() {
				elapsed = time.Since(r.start).Round(time.Second).String()
			}
			fmt.Fprintf(&b, "\x1b[2K%-16s %s %-12s %-7s %s\n", n.Name, bar(r.st.State), r.st.State, elapsed, clip(r.step, 60))
		}
		drawn = len(nodes)
		io.WriteString(a.stdout, b.String())
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	draw()
	for {
		select {
		case u, ok := <-updates:
			if !ok {
				draw()
				return
			}
			r, known := rows[u.Event.Node]
			if !known {
				continue
			}
			if r.start.IsZero() && u.Event.Kind == provision.KindBegin {
				r.start = u.Event.Time
			}
			r.st = u.Status
			r.step = u.Event.Source + "/" + u.Event.Kind + " " + u.Event.Msg
			if u.Status.State == provision.StateFailed {
				r.step = u.Status.Reason
			}
			draw()
		case <-tick.C:
			draw() // elapsed times move
		}
	}
}

// bar draws how far through its install a node is.
func bar(s provision.State) string {
	done := max(s.Rank(), 0)
	width := provision.StateReady.Rank() // new .. ready
	if s == provision.StateFailed {
		return "[" + strings.Repeat("!", width) + "]"
	}
	return "[" + strings.Repeat("#", done) + strings.Repeat(".", width-done) + "]"
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}
