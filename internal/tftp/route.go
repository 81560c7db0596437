package tftp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"strings"
)

// Request is a read request whose file name passed CleanPath.
type Request struct {
	Path   string
	Remote netip.AddrPort
	Node   string // from Server.Lookup; empty when the address is unknown
}

// Route answers the paths it matches. The server tries its routes in
// order and the first that matches a path answers it, with content or an
// error: a later route never sees it (smee's design).
type Route interface {
	// Name says which route answered, in events and logs.
	Name() string
	Match(path string) bool
	// Open returns the content of req.Path and its size, for tsize. An
	// error wrapping fs.ErrNotExist is reported to the client as "file
	// not found"; any other as "cannot read".
	Open(ctx context.Context, req Request) (io.ReadCloser, int64, error)
}

// Files serves a fixed set of files by exact name: the boot loaders of
// the image catalog (images.Loaders.Paths). The client picks among the
// names only, never a path, so the files may live anywhere.
func Files(name string, files map[string]string) Route {
	m := make(map[string]string, len(files))
	for k, v := range files {
		m[k] = v
	}
	return filesRoute{name: name, files: m}
}

type filesRoute struct {
	name  string
	files map[string]string
}

func (r filesRoute) Name() string { return r.name }

func (r filesRoute) Match(path string) bool {
	_, ok := r.files[path]
	return ok
}

func (r filesRoute) Open(_ context.Context, req Request) (io.ReadCloser, int64, error) {
	return openRegular(os.Open(r.files[req.Path]))
}

// ErrLocalBoot is the answer to the file LocalBoot serves: an ERROR
// packet (code 1, as for a missing file) that ends a UEFI firmware's
// network boot at once, so that it boots its disk.
var ErrLocalBoot = errors.New("netboot is off: boot from the local disk")

// LocalBoot answers the one file name offered to the UEFI firmware of a
// node whose netboot is off (dhcp.BootFiles.LocalEFI) with ErrLocalBoot.
func LocalBoot(name string) Route { return localBootRoute(name) }

type localBootRoute string

func (r localBootRoute) Name() string { return "local-boot" }

func (r localBootRoute) Match(path string) bool { return path == string(r) }

func (r localBootRoute) Open(context.Context, Request) (io.ReadCloser, int64, error) {
	return nil, 0, ErrLocalBoot
}

// DynamicFunc generates a file for a client: a node's pxelinux.cfg/01-<mac>
// or iPXE script, rendered from the plan. An error wrapping
// fs.ErrNotExist means "no such file" (pxelinux then tries its next name).
type DynamicFunc func(ctx context.Context, remote netip.Addr, path string) ([]byte, error)

// Dynamic serves the paths match accepts with what gen returns.
func Dynamic(name string, match func(path string) bool, gen DynamicFunc) Route {
	return dynamicRoute{name: name, match: match, gen: gen}
}

// Prefix is a match function for Dynamic: paths starting with p.
func Prefix(p string) func(string) bool {
	return func(path string) bool { return strings.HasPrefix(path, p) }
}

type dynamicRoute struct {
	name  string
	match func(string) bool
	gen   DynamicFunc
}

func (r dynamicRoute) Name() string { return r.name }

func (r dynamicRoute) Match(path string) bool { return r.match(path) }

func (r dynamicRoute) Open(ctx context.Context, req Request) (io.ReadCloser, int64, error) {
	b, err := r.gen(ctx, req.Remote.Addr(), req.Path)
	if err != nil {
		return nil, 0, err
	}
	return io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
}

// Tree serves the files under root for paths starting with prefix (which
// is removed; "" serves every path). Reads go through os.Root: no path
// and no symlink leads out of root. A path whose first element (after
// the prefix) starts with a dot is not found: with root the image
// catalog, those are the temporary directories of imports under way.
func Tree(name, prefix string, root *os.Root) Route {
	return treeRoute{name: name, prefix: prefix, root: root}
}

type treeRoute struct {
	name, prefix string
	root         *os.Root
}

func (r treeRoute) Name() string { return r.name }

func (r treeRoute) Match(path string) bool {
	return strings.HasPrefix(path, r.prefix) && len(path) > len(r.prefix)
}

func (r treeRoute) Open(_ context.Context, req Request) (io.ReadCloser, int64, error) {
	rel := strings.TrimPrefix(req.Path, r.prefix)
	if strings.HasPrefix(rel, ".") {
		return nil, 0, fmt.Errorf("%s: hidden: %w", req.Path, fs.ErrNotExist)
	}
	return openRegular(r.root.Open(rel))
}

// openRegular refuses directories and devices: only regular files are
// served.
func openRegular(f *os.File, err error) (io.ReadCloser, int64, error) {
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%s: not a regular file", fi.Name())
	}
	return f, fi.Size(), nil
}
