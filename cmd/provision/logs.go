package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/provision/provision/internal/store"
	"github.com/provision/provision/provision"
	"github.com/spf13/cobra"
)

// logsPoll is how often logs --follow looks for new events and log lines.
const logsPoll = time.Second

func (a *app) logsCmd() *cobra.Command {
	var follow bool
	var lines int
	cmd := &cobra.Command{
		Use:   "logs NODE",
		Short: "Show a node's installer logs with its events",
		Long: `logs shows the events of NODE's current install (DHCP, TFTP, boot script,
kickstart, %pre/%post reports, log uploads, SSH, profile) and the installer
logs it uploaded: anaconda.log, program.log, storage.log, ks-pre.log,
ks-post.log and the ks-script-*.log files. The kickstart's %post uploads them
at the end of the install, and %pre or %post on a failure; the appliance keeps
them in the state directory, under logs/NODE/.

With --follow it then prints new events and new log lines as they come, every
second, until interrupted.

While 'provision serve' holds the state directory the events are only in its
API (/api/v1/nodes/NODE); logs then shows the log files alone.`,
		Example: `  provision logs compute05
  provision logs compute05 --follow
  provision logs compute05 --lines 50`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeNodes,
		RunE: func(cmd *cobra.Command, args []string) error {
			plan, err := a.loadPlan()
			if err != nil {
				return err
			}
			nodes, err := selectNodes(plan, args)
			if err != nil {
				return err
			}
			v := newLogView(a.stdout, a.state, nodes[0].Name, lines)
			if err := v.poll(); err != nil {
				return err
			}
			if !follow {
				return nil
			}
			t := time.NewTicker(logsPoll)
			defer t.Stop()
			return v.follow(cmd.Context(), t.C)
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new events and log lines until interrupted")
	cmd.Flags().IntVarP(&lines, "lines", "n", 0, "print only the last N lines of each log at first (0: all)")
	return cmd
}

// logView prints a node's events and log files, and on each later poll
// what is new in them.
type logView struct {
	w     io.Writer
	state string // the state directory
	dir   string // the node's log files
	node  string
	lines int // of each file at first; 0 for all

	started bool
	seq     uint64           // the last event printed
	locked  bool             // the store was held by serve at the last poll
	offsets map[string]int64 // bytes of each file printed
	current string           // the file whose lines were printed last
}

func newLogView(w io.Writer, state, node string, lines int) *logView {
	return &logView{w: w, state: state, dir: filepath.Join(state, "logs", node), node: node, lines: lines,
		offsets: map[string]int64{}}
}

// follow polls on every tick until ctx ends.
func (v *logView) follow(ctx context.Context, tick <-chan time.Time) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
			if err := v.poll(); err != nil {
				return err
			}
		}
	}
}

// poll prints the events and log lines not printed yet: at first, the
// events of the current install and every log file.
func (v *logView) poll() error {
	first := !v.started
	v.started = true
	if err := v.events(first); err != nil {
		return err
	}
	return v.files(first)
}

func (v *logView) events(first bool) error {
	// The store is opened per poll, so a follow never keeps serve from
	// starting.
	st, err := store.Open(v.state, 200*time.Millisecond)
	if errors.Is(err, store.ErrLocked) {
		if !v.locked {
			fmt.Fprintf(v.w, "(events are in the state that 'provision serve' holds: see its API, /api/v1/nodes/%s; showing the log files only)\n", v.node)
		}
		v.locked = true
		return nil
	}
	if err != nil {
		return err
	}
	defer st.Close()
	v.locked = false
	evs, err := st.Events(store.Filter{Node: v.node, After: v.seq})
	if err != nil {
		return err
	}
	if first {
		start := 0
		for i, e := range evs {
			if (e.Kind == provision.KindBegin && e.Source == provision.SourceRollout) || e.Kind == provision.KindForget {
				start = i
			}
		}
		fmt.Fprintf(v.w, "events of %s (%d):\n", v.node, len(evs)-start)
		for _, e := range evs[start:] {
			fmt.Fprintln(v.w, formatEvent(e))
		}
	} else {
		for _, e := range evs {
			v.current = ""
			fmt.Fprintln(v.w, formatEvent(e))
		}
	}
	if len(evs) > 0 {
		v.seq = evs[len(evs)-1].Seq
	}
	return nil
}

// formatEvent is an event on one line, as status's timeline shows it.
func formatEvent(e provision.Event) string {
	detail := e.Msg
	if e.IP != "" {
		detail = strings.TrimSpace(e.IP + " " + detail)
	}
	if f := e.Attrs["file"]; f != "" && !strings.Contains(detail, f) {
		detail = strings.TrimSpace(detail + " " + f)
	}
	return fmt.Sprintf("  %s  %-18s %s", e.Time.Local().Format("15:04:05.000"), e.Source+"/"+e.Kind, detail)
}

// logFile is one uploaded log.
type logFile struct {
	name string
	size int64
	mod  time.Time
}

// logFiles lists the node's log files in the order they came.
func (v *logView) logFiles() ([]logFile, error) {
	entries, err := os.ReadDir(v.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []logFile
	for _, d := range entries {
		if strings.HasPrefix(d.Name(), ".") || !d.Type().IsRegular() {
			continue // an upload being written
		}
		fi, err := d.Info()
		if err != nil {
			continue // replaced since ReadDir
		}
		out = append(out, logFile{d.Name(), fi.Size(), fi.ModTime()})
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].mod.Equal(out[j].mod) {
			return out[i].mod.Before(out[j].mod)
		}
		return out[i].name < out[j].name
	})
	return out, nil
}

func (v *logView) files(first bool) error {
	files, err := v.logFiles()
	if err != nil {
		return err
	}
	if first && len(files) == 0 {
		fmt.Fprintf(v.w, "no installer logs of %s yet (%s)\n", v.node, v.dir)
	}
	for _, f := range files {
		off, seen := v.offsets[f.name]
		switch {
		case seen && f.size == off:
			continue
		case seen && f.size < off:
			off = 0 // uploaded again, shorter: a new install's log
			v.current = ""
		}
		data, err := v.read(f.name, off)
		if err != nil {
			return err
		}
		if len(data) == 0 {
			continue
		}
		if v.current != f.name {
			if !seen || off == 0 {
				fmt.Fprintf(v.w, "\n==> %s (%d bytes, uploaded %s) <==\n", f.name, f.size, f.mod.Local().Format(time.DateTime))
			} else {
				fmt.Fprintf(v.w, "\n==> %s <==\n", f.name)
			}
			v.current = f.name
		}
		v.offsets[f.name] = off + int64(len(data))
		if !seen && v.lines > 0 {
			data = lastLines(data, v.lines)
		}
		if _, err := v.w.Write(data); err != nil {
			return err
		}
		if data[len(data)-1] != '\n' {
			fmt.Fprintln(v.w)
		}
	}
	return nil
}

// read returns the file's bytes from off; a file replaced between the
// listing and the read is read whole, as it is now.
func (v *logView) read(name string, off int64) ([]byte, error) {
	f, err := os.Open(filepath.Join(v.dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(f)
}

// lastLines is the last n lines of data.
func lastLines(data []byte, n int) []byte {
	end := len(data)
	if end > 0 && data[end-1] == '\n' {
		end--
	}
	for i := end - 1; i >= 0; i-- {
		if data[i] == '\n' {
			n--
			if n == 0 {
				return data[i+1:]
			}
		}
	}
	return data
}
