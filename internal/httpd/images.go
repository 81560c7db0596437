package httpd

import (
	"errors"
	"io"
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
	if !wholeFile(r) {
		w.Header()["Content-Type"] = f.contentType
		http.ServeContent(w, r, path.Base(p), st.ModTime(), f.File)
		return
	}
	// The whole file, as an installer asks for it: the response
	// ServeContent would give, with the headers made at open.
	h := w.Header()
	h["Content-Type"] = f.contentType
	h["Accept-Ranges"] = acceptRanges
	if f.lastModified != nil {
		h["Last-Modified"] = f.lastModified
	}
	h["Content-Length"] = f.length
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return
	}
	// net/http's response sends the file with sendfile(2).
	_, _ = io.CopyN(w, f.File, st.Size())
}

var acceptRanges = []string{"bytes"}

// wholeFile says whether r asks for the whole file with no condition:
// no Range and no If- header, which ServeContent would have to weigh.
func wholeFile(r *http.Request) bool {
	h := r.Header
	return len(h["Range"]) == 0 && len(h["If-Match"]) == 0 && len(h["If-None-Match"]) == 0 &&
		len(h["If-Modified-Since"]) == 0 && len(h["If-Unmodified-Since"]) == 0 && len(h["If-Range"]) == 0
}

// contentType is the Content-Type of an install-tree file, from its
// extension: application/octet-stream when it has none known, which is
// what ServeContent would sniff for a boot image or an RPM, without
// reading the file's head and seeking back.
func contentType(name string) string {
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}
