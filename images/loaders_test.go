package images

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeDistro writes empty loaders at the given paths under a new root.
func fakeDistro(t *testing.T, paths ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, p := range paths {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestFindLoaders(t *testing.T) {
	for _, tt := range []struct {
		name    string
		files   []string
		paths   map[string]string // relative to the fake root
		want    map[string]string // name to path relative to the root
		missing []string
	}{
		{
			name: "debian",
			files: []string{"/usr/lib/ipxe/undionly.kpxe", "/usr/lib/ipxe/ipxe.efi", "/usr/lib/ipxe/snponly.efi",
				"/usr/lib/PXELINUX/pxelinux.0", "/usr/lib/syslinux/modules/bios/ldlinux.c32", "/usr/lib/syslinux/modules/bios/menu.c32"},
			want: map[string]string{"undionly.kpxe": "/usr/lib/ipxe/undionly.kpxe", "ipxe.efi": "/usr/lib/ipxe/ipxe.efi",
				"snponly.efi": "/usr/lib/ipxe/snponly.efi", "pxelinux.0": "/usr/lib/PXELINUX/pxelinux.0",
				"ldlinux.c32": "/usr/lib/syslinux/modules/bios/ldlinux.c32", "menu.c32": "/usr/lib/syslinux/modules/bios/menu.c32"},
		},
		{
			name:  "el",
			files: []string{"/usr/share/ipxe/undionly.kpxe", "/usr/share/ipxe/ipxe-x86_64.efi", "/usr/share/syslinux/pxelinux.0", "/usr/share/syslinux/ldlinux.c32"},
			want: map[string]string{"undionly.kpxe": "/usr/share/ipxe/undionly.kpxe", "ipxe.efi": "/usr/share/ipxe/ipxe-x86_64.efi",
				"pxelinux.0": "/usr/share/syslinux/pxelinux.0", "ldlinux.c32": "/usr/share/syslinux/ldlinux.c32"},
			missing: []string{"snponly.efi"},
		},
		{
			name:    "configured path wins",
			files:   []string{"/usr/lib/ipxe/undionly.kpxe", "/srv/custom/undionly.kpxe"},
			paths:   map[string]string{"undionly.kpxe": "/srv/custom/undionly.kpxe"},
			want:    map[string]string{"undionly.kpxe": "/srv/custom/undionly.kpxe"},
			missing: []string{"ipxe.efi", "snponly.efi", "pxelinux.0", "ldlinux.c32"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root := fakeDistro(t, tt.files...)
			paths := map[string]string{}
			for n, p := range tt.paths {
				paths[n] = filepath.Join(root, p)
			}
			l, err := FindLoaders(LoaderConfig{Root: root, Paths: paths})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for n, p := range l.Paths() {
				got[n] = strings.TrimPrefix(p, root)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("loaders (-want +got):\n%s", d)
			}
			var missing []string
			for _, n := range RequiredLoaders() {
				if _, ok := l.Missing[n]; ok {
					missing = append(missing, n)
				}
			}
			if d := cmp.Diff(tt.missing, missing); d != "" {
				t.Errorf("missing (-want +got):\n%s", d)
			}
			err = l.Check(RequiredLoaders()...)
			if (err != nil) != (len(tt.missing) > 0) || (err != nil && !errors.Is(err, ErrMissingLoader)) {
				t.Errorf("Check: %v", err)
			}
		})
	}
}

func TestFindLoadersConfiguredMissing(t *testing.T) {
	_, err := FindLoaders(LoaderConfig{Root: t.TempDir(), Paths: map[string]string{"undionly.kpxe": "/nonexistent/undionly.kpxe"}})
	if err == nil || !strings.Contains(err.Error(), "boot loader undionly.kpxe: configured path /nonexistent/undionly.kpxe") {
		t.Errorf("got %v", err)
	}
	_, err = FindLoaders(LoaderConfig{Root: t.TempDir(), Paths: map[string]string{"../x": "/etc/passwd"}})
	if err == nil || !strings.Contains(err.Error(), "want a plain file name") {
		t.Errorf("got %v", err)
	}
}

// TestFindLoadersHost checks the machine's own Debian packages when
// they are installed (make deps).
func TestFindLoadersHost(t *testing.T) {
	l, err := FindLoaders(LoaderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/usr/lib/ipxe/undionly.kpxe"); err != nil {
		t.Skip("Debian's ipxe not installed")
	}
	if err := l.Check("undionly.kpxe", "ipxe.efi", "snponly.efi"); err != nil {
		t.Error(err)
	}
}
