package images

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// ManifestFile is written at the root of every imported tree. It lives
// inside the tree so that the tree and its manifest appear in one rename.
const ManifestFile = "provision-manifest.json"

// Manifest records what was imported and the sha256 of each boot file.
type Manifest struct {
	Name     string    `json:"name"`
	Family   string    `json:"family"`
	Version  string    `json:"version"`
	Arch     string    `json:"arch"`
	Kernel   string    `json:"kernel"`
	Initrd   string    `json:"initrd"`
	Source   string    `json:"source"`
	Imported time.Time `json:"imported"`
	// TreeFiles and TreeBytes count every regular file of the tree.
	TreeFiles int   `json:"tree_files"`
	TreeBytes int64 `json:"tree_bytes"`
	// Files are the boot files: kernel, initrd, every other file the
	// .treeinfo names, the .treeinfo itself and repodata/repomd.xml
	// (which carries the checksums of the repository metadata, which in
	// turn carries those of the packages).
	Files []FileSum `json:"files"`
}

// FileSum is one file's size and sha256.
type FileSum struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Catalog is the directory of imported install trees: Dir/<name>/.
type Catalog struct {
	Dir string // STATE/images
}

// Errors callers test for with errors.Is.
var (
	ErrNoTree     = errors.New("no such install tree")
	ErrTreeExists = errors.New("install tree already imported")
	ErrBadName    = errors.New("invalid install tree name")
	ErrMismatch   = errors.New("install tree does not match its manifest")
)

// CheckName refuses a tree name that cannot be a single URL and TFTP
// path element: lower-case letters, digits, '.', '_' and '-', starting
// with a letter or digit, at most 64 bytes.
func CheckName(name string) error {
	ok := name != "" && len(name) <= 64 && !strings.Contains(name, "..")
	for i, c := range name {
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || !strings.ContainsRune("._-", c)) {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("%w %q: want lower-case letters, digits, '.', '_' and '-', at most 64, like centos-6.5", ErrBadName, name)
	}
	return nil
}

// Tree is one entry of List.
type Tree struct {
	Name     string
	Path     string
	Manifest *Manifest // nil when Err is set
	Err      error
}

// List returns the imported trees by name. A directory without a
// readable manifest is listed with its error; leftovers of an interrupted
// import (".import-*") are skipped.
func (c Catalog) List() ([]Tree, error) {
	ents, err := os.ReadDir(c.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing install trees: %w", err)
	}
	var out []Tree
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		t := Tree{Name: e.Name(), Path: filepath.Join(c.Dir, e.Name())}
		t.Manifest, t.Err = c.Manifest(e.Name())
		out = append(out, t)
	}
	return out, nil
}

// OpenRoot opens the catalog directory for the servers, creating it when
// there is none yet. Trees are its subdirectories; the temporary
// directories of imports start with a dot.
func (c Catalog) OpenRoot() (*os.Root, error) {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("install trees: %w", err)
	}
	r, err := os.OpenRoot(c.Dir)
	if err != nil {
		return nil, fmt.Errorf("install trees: %w", err)
	}
	return r, nil
}

// Leftovers are the temporary directories of imports that were killed
// before they could clean up (SIGKILL, power loss).
func (c Catalog) Leftovers() []string {
	m, _ := filepath.Glob(filepath.Join(c.Dir, ".import-*"))
	return m
}

// Manifest reads the manifest of the tree name.
func (c Catalog) Manifest(name string) (*Manifest, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	p := filepath.Join(c.Dir, name, ManifestFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(filepath.Join(c.Dir, name)); errors.Is(serr, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s (in %s)", ErrNoTree, name, c.Dir)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("install tree %s: reading manifest: %w", name, err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("install tree %s: %s: %w", name, p, err)
	}
	return &m, nil
}

// Mismatch is a boot file whose content no longer matches the manifest.
type Mismatch struct {
	Tree, Path string
	Want, Got  string // sha256; Got is empty when the file could not be read
	Err        error
}

func (m Mismatch) String() string {
	if m.Err != nil {
		return fmt.Sprintf("%s: %s: %v", m.Tree, m.Path, m.Err)
	}
	return fmt.Sprintf("%s: %s: sha256 %s, manifest says %s", m.Tree, m.Path, m.Got, m.Want)
}

// Verify re-hashes the boot files of the tree name and returns those that
// differ from the manifest. The files are read through os.Root: a boot
// file replaced by a symlink out of the tree is a mismatch, not a read of
// the file it points to.
func (c Catalog) Verify(ctx context.Context, name string) ([]Mismatch, error) {
	m, err := c.Manifest(name)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(filepath.Join(c.Dir, name))
	if err != nil {
		return nil, fmt.Errorf("install tree %s: %w", name, err)
	}
	defer root.Close()
	var bad []Mismatch
	for _, f := range m.Files {
		sum, size, err := hashFile(ctx, root, f.Path, nil)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("verifying %s: %w", name, ctx.Err())
		}
		switch {
		case err != nil:
			bad = append(bad, Mismatch{Tree: name, Path: f.Path, Want: f.SHA256, Err: err})
		case sum != f.SHA256 || size != f.Size:
			bad = append(bad, Mismatch{Tree: name, Path: f.Path, Want: f.SHA256, Got: sum})
		}
	}
	return bad, nil
}

// hashFile returns the sha256 and size of path in root, refusing
// anything but a regular file. count, when set, is told of every read.
func hashFile(ctx context.Context, root *os.Root, path string, count func(int64)) (string, int64, error) {
	f, err := root.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", 0, err
	}
	if !fi.Mode().IsRegular() {
		return "", 0, fmt.Errorf("%s: not a regular file", path)
	}
	h := sha256.New()
	n, err := io.Copy(h, &ctxReader{ctx: ctx, r: f, count: count})
	if err != nil {
		return "", n, fmt.Errorf("reading %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// ctxReader stops a long copy when its context ends, and reports
// progress.
type ctxReader struct {
	ctx   context.Context
	r     io.Reader
	count func(int64)
}

func (r *ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := r.r.Read(p)
	if n > 0 && r.count != nil {
		r.count(int64(n))
	}
	return n, err
}

// bootFiles lists the files whose sums the manifest records, sorted.
func bootFiles(ti *Treeinfo) []string {
	set := map[string]bool{TreeinfoFile: true, "repodata/repomd.xml": true, ti.Kernel: true, ti.Initrd: true}
	for p := range ti.Images {
		set[p] = true
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}
