package httpd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/provision/provision/provision"
)

// MaxLogBytes is the largest installer log accepted in one upload; the
// kickstart sends the last MaxLogBytes of a longer file
// (kickstart.MaxLogBytes).
const MaxLogBytes = 4 << 20

// maxLogName is the longest log file name kept, in bytes.
const maxLogName = 128

// KindLog is the event of an installer log upload.
const KindLog = "log"

// LogName makes an uploaded log's name safe to be a file name: its last
// path element, with every byte outside [A-Za-z0-9._-] made '_' and
// leading dots dropped. It returns "" for a name with nothing left.
func LogName(name string) string {
	name = path.Base(strings.ReplaceAll(name, `\`, "/"))
	if name == "/" {
		return ""
	}
	b := []byte(name)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			b[i] = '_'
		}
	}
	name = strings.TrimLeft(string(b), ".")
	if len(name) > maxLogName {
		name = name[:maxLogName]
	}
	return name
}

// LogPath is where the log name of node is kept under dir.
func LogPath(dir, node, name string) string {
	return filepath.Join(dir, node, name)
}

// uploadLog takes an installer log from the node itself, with its token:
// POST /api/v1/nodes/{node}/logs/{name}, the file's bytes as the body. The
// log is written whole or not at all to LogDir/<node>/<name>, replacing an
// earlier upload of the same name, with the node's token blanked out.
func (s *Server) uploadLog(w http.ResponseWriter, r *http.Request) {
	node := s.authNode(w, r, "log")
	if node == nil {
		return
	}
	ev := provision.Event{Node: node.Name, IP: peer(r).String()}
	if s.LogDir == "" {
		s.refuse(w, r, ev, "log", "not-kept", http.StatusNotFound)
		return
	}
	name := LogName(r.PathValue("name"))
	if name == "" {
		s.refuse(w, r, ev, "log", "bad-name", http.StatusBadRequest)
		return
	}
	body, ok := s.readBody(w, r, ev, "log", MaxLogBytes)
	if !ok {
		return
	}
	// The loader logs the kickstart URL, token included: keep no secret.
	if tok := bearer(r); tok != "" {
		body = bytes.ReplaceAll(body, []byte(tok), []byte("[token]"))
	}
	if err := writeAtomic(filepath.Join(s.LogDir, node.Name), name, body); err != nil {
		s.logger().Error("log: write", "node", node.Name, "file", name, "err", err)
		http.Error(w, "could not keep the log, try again", http.StatusInternalServerError)
		return
	}
	n := strconv.Itoa(len(body))
	ev.Kind, ev.Msg = KindLog, fmt.Sprintf("installer log %s (%s bytes)", name, n)
	ev.Attrs = map[string]string{"file": name, "bytes": n}
	s.emit(ev)
	s.logger().Info("log", "node", node.Name, "ip", ev.IP, "file", name, "bytes", len(body))
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(struct {
		Node  string `json:"node"`
		File  string `json:"file"`
		Bytes int    `json:"bytes"`
	}{node.Name, name, len(body)})
}

// writeAtomic writes dir/name through a temporary file renamed over it, so
// a reader sees the old file or the new one, never part of one.
func writeAtomic(dir, name string, data []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".upload-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
