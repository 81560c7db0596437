package tftp

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

func TestCleanPath(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     string // in the error; empty when accepted
	}{
		{"loader", "undionly.kpxe", ""},
		{"config", "pxelinux.cfg/01-52-54-00-00-00-01", ""},
		{"tree file", "centos-6.5/images/pxeboot/vmlinuz", ""},
		{"percent is literal", "%2e%2e/x", ""},
		{"max length", strings.Repeat("a", MaxPathLen), ""},
		{"empty", "", "empty name"},
		{"too long", strings.Repeat("a", MaxPathLen+1), "name of 256 bytes"},
		{"600 bytes", strings.Repeat("a/", 300), "name of 600 bytes"},
		{"nul", "a\x00b", "NUL"},
		{"backslash", `boot\x86\wdsnbp.com`, "backslash"},
		{"absolute", "/etc/passwd", "absolute"},
		{"dotdot", "../etc/passwd", "'..'"},
		{"inner dotdot", "a/../../b", "'..'"},
		{"trailing dotdot", "a/..", "'..'"},
		{"dot", "./a", "'.' path element"},
		{"double slash", "a//b", "empty or '.'"},
		{"trailing slash", "a/", "empty or '.'"},
		{"control", "a\nb", "control character"},
		{"del", "a\x7fb", "control character"},
		{"bad utf8", "a\xffb", "not UTF-8"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CleanPath(tt.in)
			if tt.want == "" {
				if err != nil || got != tt.in {
					t.Errorf("CleanPath(%q) = %q, %v; want it unchanged", tt.in, got, err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrBadPath) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("CleanPath(%q) = %q, %v; want an error with %q", tt.in, got, err, tt.want)
			}
		})
	}
}

// FuzzCleanPath checks that whatever CleanPath accepts is a clean local
// path: it stays inside any root, and os.Root agrees.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"undionly.kpxe", "pxelinux.cfg/01-aa-bb-cc-dd-ee-ff", "../../etc/passwd",
		"/etc/passwd", "%2e%2e/", "a\x00b", `a\b`, "a//b", "./a", "a/.", "centos-6.5/images/pxeboot/vmlinuz"} {
		f.Add(s)
	}
	root, err := os.OpenRoot(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	defer root.Close()
	f.Fuzz(func(t *testing.T, name string) {
		got, err := CleanPath(name)
		if err != nil {
			if !errors.Is(err, ErrBadPath) {
				t.Fatalf("error %v does not wrap ErrBadPath", err)
			}
			return
		}
		if got != name || len(got) > MaxPathLen {
			t.Fatalf("CleanPath(%q) = %q", name, got)
		}
		if !filepath.IsLocal(got) || path.Clean(got) != got || strings.ContainsAny(got, "\\\x00") {
			t.Fatalf("accepted %q, which is not a clean local path", got)
		}
		// os.Root refuses escapes with its own error; a name CleanPath
		// accepts may only be missing.
		if _, err := root.Stat(got); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("os.Root on accepted %q: %v", got, err)
		}
	})
}
