package httpd

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestImagesWholeFile: a request for a whole install-tree file, which the
// server answers itself, gets the status, headers and body ServeContent
// gives for the same file; a Range or an If- header goes to
// ServeContent (206, 304, 412). The file's descriptor is kept and reused.
func TestImagesWholeFile(t *testing.T) {
	e := start(t)
	const rel = "centos-6.5/images/install.img"
	file := filepath.Join(e.images, rel)
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	mod := time.Date(2013, 11, 27, 12, 0, 0, 0, time.UTC)
	if err := os.Chtimes(file, mod, mod); err != nil {
		t.Fatal(err)
	}
	// What ServeContent answers for the file.
	ref := httptest.NewRecorder()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	http.ServeContent(ref, httptest.NewRequest("GET", "/x", nil), "install.img", mod, f)

	url := e.base + "/images/" + rel
	// Descriptors kept for a minute, not 1 s: a slow run must not see
	// them expire.
	var c *openFiles
	e.srv.filesOnce.Do(func() {
		c = newOpenFiles(e.srv.Images)
		c.maxAge = time.Minute
		e.srv.files = c
	})
	first := firstDescriptor(t, c, url, rel)
	for _, tc := range []struct {
		name, method string
		header       map[string]string
		code         int
		body         string // "" for the whole file
	}{
		{name: "whole", method: "GET", code: 200},
		{name: "head", method: "HEAD", code: 200},
		{name: "range", method: "GET", header: map[string]string{"Range": "bytes=10-19"}, code: 206, body: string(want[10:20])},
		{name: "not modified", method: "GET", header: map[string]string{"If-Modified-Since": mod.Format(http.TimeFormat)}, code: 304},
		{name: "modified since", method: "GET", header: map[string]string{"If-Modified-Since": mod.Add(-time.Hour).Format(http.TimeFormat)}, code: 200},
		{name: "precondition", method: "GET", header: map[string]string{"If-Unmodified-Since": mod.Add(-time.Hour).Format(http.TimeFormat)}, code: 412},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Twice: the second request reuses the kept descriptor,
			// whose offset the first moved.
			for i := range 2 {
				req, err := http.NewRequestWithContext(t.Context(), tc.method, url, nil)
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range tc.header {
					req.Header.Set(k, v)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != tc.code {
					t.Fatalf("request %d: status %d, want %d", i+1, resp.StatusCode, tc.code)
				}
				switch {
				case tc.code == 304 || tc.code == 412:
				case tc.body != "":
					if string(body) != tc.body {
						t.Fatalf("request %d: body %q, want %q", i+1, body, tc.body)
					}
				case tc.method == "HEAD":
					if len(body) != 0 {
						t.Fatalf("HEAD: %d body bytes", len(body))
					}
				default:
					if string(body) != string(want) {
						t.Fatalf("request %d: %d bytes, not the file's %d", i+1, len(body), len(want))
					}
				}
				if tc.code != 200 {
					continue
				}
				for _, k := range []string{"Content-Type", "Content-Length", "Last-Modified", "Accept-Ranges"} {
					if got, w := resp.Header.Get(k), ref.Header().Get(k); got != w {
						t.Errorf("request %d: %s %q, ServeContent gives %q", i+1, k, got, w)
					}
				}
			}
		})
	}
	if !strings.Contains(ref.Header().Get("Last-Modified"), "2013") {
		t.Fatalf("reference response: %v", ref.Header())
	}
	// The requests, one after another, reused the first request's
	// descriptor: opened per request, 12 would be idle, or the first
	// would have been replaced. Two may be idle: the client can send its
	// next request before the handler has given the last one back.
	c.mu.Lock()
	kept := c.idle[rel]
	c.mu.Unlock()
	if len(kept) < 1 || len(kept) > 2 || !slices.Contains(kept, first) {
		t.Errorf("%d descriptors of %s kept after 12 more requests one after another (the first among them: %v), want 1 or 2 and the first",
			len(kept), rel, slices.Contains(kept, first))
	}
}

// firstDescriptor fetches url once and returns the descriptor of rel the
// server kept, once the handler has given it back.
func firstDescriptor(t *testing.T, c *openFiles, url, rel string) *openFile {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		kept := c.idle[rel]
		c.mu.Unlock()
		if len(kept) == 1 {
			return kept[0]
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%d descriptors of %s kept after one request, want 1", len(kept), rel)
		}
	}
}
