package httpd

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestOpenFiles: a descriptor is reused only by one request at a time
// and only within maxAge of its open; a file replaced in the tree is
// served new once the old descriptor is too old; idle descriptors are
// capped and swept.
func TestOpenFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		// As an import replaces a file: a new file renamed over it.
		tmp := filepath.Join(dir, name+".new")
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	read := func(f *openFile) string {
		t.Helper()
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(f)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	write("a.rpm", "one")
	write("b.rpm", "bee")
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	now := time.Unix(1e9, 0)
	c := newOpenFiles(root)
	c.now = func() time.Time { return now }
	c.maxIdle = 2
	defer c.close()

	f1, err := c.get("a.rpm")
	if err != nil {
		t.Fatal(err)
	}
	f2, err := c.get("a.rpm")
	if err != nil {
		t.Fatal(err)
	}
	if f1 == f2 || f1.Fd() == f2.Fd() {
		t.Fatal("two requests at once share a descriptor")
	}
	if f1.info.Size() != 3 || read(f1) != "one" {
		t.Fatalf("a.rpm: size %d, %q", f1.info.Size(), read(f1))
	}
	c.put("a.rpm", f1)
	c.put("a.rpm", f2)
	if g, _ := c.get("a.rpm"); g != f2 {
		t.Error("an idle young descriptor was not reused")
	} else {
		c.put("a.rpm", g)
	}

	// Replaced in the tree: the kept descriptors still read the old
	// file until they are maxAge old.
	write("a.rpm", "two!")
	now = now.Add(c.maxAge / 2)
	if g, _ := c.get("a.rpm"); read(g) != "one" {
		t.Errorf("within maxAge: %q, want the kept descriptor's old file", read(g))
	} else {
		c.put("a.rpm", g)
	}
	now = now.Add(c.maxAge)
	g, err := c.get("a.rpm")
	if err != nil {
		t.Fatal(err)
	}
	if read(g) != "two!" || g.info.Size() != 4 {
		t.Errorf("after maxAge: %q (size %d), want the new file", read(g), g.info.Size())
	}
	if c.nIdle != 0 {
		t.Errorf("%d idle after the old descriptors were found too old, want 0", c.nIdle)
	}

	// The cap: a third idle descriptor is closed, not kept.
	h, _ := c.get("a.rpm")
	b, _ := c.get("b.rpm")
	c.put("a.rpm", g)
	c.put("a.rpm", h)
	c.put("b.rpm", b)
	if c.nIdle != 2 || len(c.idle["b.rpm"]) != 0 {
		t.Errorf("idle %d, b.rpm %d, want 2 and 0 (maxIdle 2)", c.nIdle, len(c.idle["b.rpm"]))
	}
	if _, err := b.Stat(); err == nil {
		t.Error("the descriptor past maxIdle is still open")
	}

	// The sweep: an idle descriptor of a file no longer asked for is
	// closed by the next put after maxAge.
	now = now.Add(2 * c.maxAge)
	b, _ = c.get("b.rpm")
	c.put("b.rpm", b)
	if c.nIdle != 1 || len(c.idle["a.rpm"]) != 0 {
		t.Errorf("after the sweep: %d idle, %d of a.rpm, want only b.rpm's", c.nIdle, len(c.idle["a.rpm"]))
	}
	if _, err := g.Stat(); err == nil {
		t.Error("a swept descriptor is still open")
	}

	if _, err := c.get("../etc/passwd"); err == nil {
		t.Error("a path out of the root was opened")
	}
}
