package httpd

import (
	"errors"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/provision/provision/provision"
)

// minRate is the slowest transfer an install-tree response is given time
// for, in bytes per second, beyond WriteTimeout: a 600 MB file gets ten
// minutes.
const minRate = 1 << 20

// images serves GET /images/PATH from the Images root.
func (s *Server) images(w http.ResponseWriter, r *http.Request) {
	p := r.PathValue("path")
	if s.Images == nil || !fs.ValidPath(p) || strings.Contains(p, "\\") {
		s.refuse(w, r, provision.Event{IP: peer(r).String()}, "images", "bad-path", http.StatusNotFound)
		return
	}
	s.filesOnce.Do(func() { s.files = newOpenFiles(s.Images) })
	f, err := s.files.get(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// Installers probe for optional files (updates.img,
			// product.img): a miss is no event.
			http.Error(w, http.StatusText(http.StatusNotFound), http.StatusNotFound)
			return
		}
		// A symlink out of the root, or a file the server may not read.
		s.logger().Warn("images: open", "path", p, "ip", peer(r).String(), "err", err)
		s.refuse(w, r, provision.Event{IP: peer(r).String()}, "images", "not-servable", http.StatusNotFound)
		return
	}
	defer s.files.put(p, f)
	st := f.info
	if !st.Mode().IsRegular() {
		http.Error(w, http.StatusText(http.StatusNotFound), http.StatusNotFound)
		return
	}
	if extra := time.Duration(st.Size()/minRate) * time.Second; extra > 0 {
		// An error means the writer cannot take deadlines (a test
		// recorder): the server's WriteTimeout still holds.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.Timeouts.withDefaults().Write + extra))
	}
	if log := s.logger(); log.Enabled(r.Context(), slog.LevelDebug) {
		log.Debug("images", "path", p, "ip", peer(r).String(), "range", r.Header.Get("Range") != "")
	}
	name := path.Base(p)
	if mime.TypeByExtension(path.Ext(name)) == "" {
		// What ServeContent would sniff for a boot image or an RPM,
		// without reading the file's head and seeking back.
		w.Header().Set("Content-Type", "application/octet-stream")
	}
	http.ServeContent(w, r, name, st.ModTime(), f.File)
}
