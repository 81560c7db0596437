package httpd

import (
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

// openFiles keeps install-tree files open between requests, as nginx's
// open_file_cache does: an installer fetches hundreds of small RPMs, and
// opening each through os.Root (a walk of openat calls, one per path
// element), a stat and a close cost this server more than sending the
// file (BENCHMARKS.md, HTTP).
//
// A descriptor serves one request at a time: net/http's sendfile reads
// from the file's own offset, which ServeContent seeks (the lane's
// sendfile gives its own offset, but shares the pool). An idle
// descriptor is reused until maxAge after it was opened, so a file
// replaced in the tree (`images import --force`) is served new within
// maxAge; at most maxIdle are kept.
type openFiles struct {
	root    *os.Root
	maxAge  time.Duration
	maxIdle int
	now     func() time.Time

	mu    sync.Mutex
	idle  map[string][]*openFile
	nIdle int
	swept time.Time // last time put closed the idle descriptors too old
}

// openFile is an open install-tree file and what was read of it at
// open, with its response headers made once.
type openFile struct {
	*os.File
	info   fs.FileInfo
	opened time.Time
	// Content-Length and Last-Modified (nil when the time is zero or
	// the epoch, as ServeContent leaves it out), and Content-Type.
	length, lastModified, contentType []string
}

const (
	openFilesMaxAge  = time.Second
	openFilesMaxIdle = 256
)

func newOpenFiles(root *os.Root) *openFiles {
	return &openFiles{root: root, maxAge: openFilesMaxAge, maxIdle: openFilesMaxIdle, now: time.Now,
		idle: map[string][]*openFile{}}
}

// get returns name open for this request's use alone: an idle
// descriptor young enough, else one opened now through the root. The
// caller gives it back with put.
func (c *openFiles) get(name string) (*openFile, error) {
	now := c.now()
	c.mu.Lock()
	for l := c.idle[name]; len(l) > 0; l = c.idle[name] {
		f := l[len(l)-1]
		c.take(name, l)
		if now.Sub(f.opened) < c.maxAge {
			c.mu.Unlock()
			return f, nil
		}
		f.Close()
	}
	c.mu.Unlock()
	f, err := c.root.Open(name)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	of := &openFile{File: f, info: info, opened: now, length: []string{strconv.FormatInt(info.Size(), 10)},
		contentType: []string{contentType(name)}}
	if mt := info.ModTime(); !mt.IsZero() && !mt.Equal(time.Unix(0, 0)) {
		of.lastModified = []string{mt.UTC().Format(http.TimeFormat)}
	}
	return of, nil
}

// take removes the last descriptor of l, the idle list of name.
func (c *openFiles) take(name string, l []*openFile) {
	l[len(l)-1] = nil
	if l = l[:len(l)-1]; len(l) == 0 {
		delete(c.idle, name)
	} else {
		c.idle[name] = l
	}
	c.nIdle--
}

// put gives f back after a request: kept for the next one, or closed
// when it is too old or enough are kept.
func (c *openFiles) put(name string, f *openFile) {
	if c.now().Sub(f.opened) >= c.maxAge {
		f.Close()
		return
	}
	c.mu.Lock()
	if now := c.now(); now.Sub(c.swept) >= c.maxAge {
		// Descriptors of files no longer asked for would otherwise
		// hold them open, deleted ones too, until the server stops.
		c.swept = now
		for name, l := range c.idle {
			keep := l[:0]
			for _, g := range l {
				if now.Sub(g.opened) < c.maxAge {
					keep = append(keep, g)
				} else {
					g.Close()
					c.nIdle--
				}
			}
			clear(l[len(keep):])
			if len(keep) == 0 {
				delete(c.idle, name)
			} else {
				c.idle[name] = keep
			}
		}
	}
	if c.nIdle >= c.maxIdle {
		c.mu.Unlock()
		f.Close()
		return
	}
	c.idle[name] = append(c.idle[name], f)
	c.nIdle++
	c.mu.Unlock()
}

// close closes every idle descriptor.
func (c *openFiles) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, l := range c.idle {
		for _, f := range l {
			f.Close()
		}
		delete(c.idle, name)
	}
	c.nIdle = 0
}
