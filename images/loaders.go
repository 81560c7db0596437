package images

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Loader is one boot loader the appliance hands out over TFTP.
type Loader struct {
	Name string `json:"name"` // what clients ask for: undionly.kpxe, ipxe.efi, pxelinux.0, ldlinux.c32
	Path string `json:"path"` // where it is on this machine
	Size int64  `json:"size"`
}

// LoaderSource says where a distribution puts one boot loader, or, for a
// Glob, a set of them (pxelinux's .c32 modules).
type LoaderSource struct {
	Name  string   // TFTP name; empty for a Glob
	Paths []string // candidates, first existing wins
	Glob  string   // a directory of modules, e.g. /usr/lib/syslinux/modules/bios/*.c32
}

// RequiredLoaders are the loaders the boot configs refer to: iPXE for BIOS
// (undionly.kpxe chains from the NIC's PXE ROM), iPXE for UEFI (ipxe.efi
// with its own drivers, snponly.efi through the firmware's), and pxelinux
// with the ldlinux.c32 it loads first.
func RequiredLoaders() []string {
	return []string{"undionly.kpxe", "ipxe.efi", "snponly.efi", "pxelinux.0", "ldlinux.c32"}
}

// DefaultLoaderSources are where Debian (packages ipxe, pxelinux,
// syslinux-common) and EL (ipxe-bootimgs, syslinux) put the loaders.
// Debian's come first: the appliance runs on a current Debian.
func DefaultLoaderSources() []LoaderSource {
	return []LoaderSource{
		{Name: "undionly.kpxe", Paths: []string{"/usr/lib/ipxe/undionly.kpxe", "/usr/share/ipxe/undionly.kpxe"}},
		{Name: "ipxe.efi", Paths: []string{"/usr/lib/ipxe/ipxe.efi", "/usr/share/ipxe/ipxe-x86_64.efi", "/usr/share/ipxe/ipxe.efi"}},
		{Name: "snponly.efi", Paths: []string{"/usr/lib/ipxe/snponly.efi", "/usr/share/ipxe/ipxe-snponly-x86_64.efi", "/usr/share/ipxe/snponly.efi"}},
		{Name: "pxelinux.0", Paths: []string{"/usr/lib/PXELINUX/pxelinux.0", "/usr/share/syslinux/pxelinux.0"}},
		{Glob: "/usr/lib/syslinux/modules/bios/*.c32"},
		{Glob: "/usr/share/syslinux/*.c32"},
	}
}

// LoaderConfig says where to find the loaders.
type LoaderConfig struct {
	// Root is prefixed to every default path; empty means "/". Tests
	// point it at a fake distribution tree.
	Root string
	// Sources replace DefaultLoaderSources when set.
	Sources []LoaderSource
	// Paths name a loader's file explicitly (TFTP name to path), as the
	// operator's configuration does; they win over Sources and are not
	// prefixed with Root.
	Paths map[string]string
}

// Loaders is the catalog of boot loaders found on this machine.
type Loaders struct {
	Files []Loader // sorted by Name
	// Missing are required loaders found nowhere, each with the paths tried.
	Missing map[string][]string
}

// ErrMissingLoader is returned, wrapped, by Loaders.Check.
var ErrMissingLoader = errors.New("boot loader not found")

// FindLoaders looks for the boot loaders where cfg says. A loader that is
// not installed is listed in Missing rather than failing the whole
// catalog: a BIOS-only site needs no ipxe.efi. A path the operator named
// must exist.
func FindLoaders(cfg LoaderConfig) (*Loaders, error) {
	srcs := cfg.Sources
	if srcs == nil {
		srcs = DefaultLoaderSources()
	}
	root := cfg.Root
	if root == "" {
		root = "/"
	}
	found := map[string]Loader{}
	tried := map[string][]string{}
	add := func(name, path string) (bool, error) {
		if _, ok := found[name]; ok {
			return true, nil
		}
		fi, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			tried[name] = append(tried[name], path)
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("boot loader %s: %w", name, err)
		}
		if !fi.Mode().IsRegular() {
			return false, fmt.Errorf("boot loader %s: %s is not a regular file", name, path)
		}
		found[name] = Loader{Name: name, Path: path, Size: fi.Size()}
		return true, nil
	}
	var errs []error
	for name, path := range cfg.Paths {
		if err := checkLoaderName(name); err != nil {
			errs = append(errs, err)
			continue
		}
		ok, err := add(name, path)
		if err == nil && !ok {
			err = fmt.Errorf("boot loader %s: configured path %s: %w", name, path, fs.ErrNotExist)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	for _, s := range srcs {
		if s.Glob != "" {
			matches, err := filepath.Glob(filepath.Join(root, s.Glob))
			if err != nil {
				errs = append(errs, fmt.Errorf("boot loaders %s: %w", s.Glob, err))
			}
			for _, m := range matches {
				if _, err := add(filepath.Base(m), m); err != nil {
					errs = append(errs, err)
				}
			}
			continue
		}
		for _, p := range s.Paths {
			ok, err := add(s.Name, filepath.Join(root, p))
			if err != nil {
				errs = append(errs, err)
			}
			if ok || err != nil {
				break
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	l := &Loaders{Missing: map[string][]string{}}
	for _, f := range found {
		l.Files = append(l.Files, f)
	}
	slices.SortFunc(l.Files, func(a, b Loader) int { return strings.Compare(a.Name, b.Name) })
	for _, name := range RequiredLoaders() {
		if _, ok := found[name]; !ok {
			l.Missing[name] = tried[name]
		}
	}
	return l, nil
}

// checkLoaderName refuses a TFTP name that is not a plain file name.
func checkLoaderName(name string) error {
	if name == "" || strings.ContainsAny(name, "/\\\x00") || name == "." || name == ".." {
		return fmt.Errorf("boot loader name %q: want a plain file name", name)
	}
	return nil
}

// Paths maps each loader's TFTP name to its path, for the TFTP server.
func (l *Loaders) Paths() map[string]string {
	m := make(map[string]string, len(l.Files))
	for _, f := range l.Files {
		m[f.Name] = f.Path
	}
	return m
}

// Check fails, naming each missing loader and where it was looked for,
// when one of names is not in the catalog.
func (l *Loaders) Check(names ...string) error {
	var errs []error
	for _, n := range names {
		if !slices.ContainsFunc(l.Files, func(f Loader) bool { return f.Name == n }) {
			errs = append(errs, fmt.Errorf("%w: %s (looked in %s)", ErrMissingLoader, n, strings.Join(l.Missing[n], ", ")))
		}
	}
	return errors.Join(errs...)
}
