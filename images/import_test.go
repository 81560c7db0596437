package images

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeTree writes a small CentOS-6.5-shaped install tree under dir and
// returns the sha256 of each file by path. mutate may change the files
// (path to content; an empty content removes the file) before writing.
func fakeTree(t testing.TB, dir string, mutate func(map[string]string)) map[string]string {
	t.Helper()
	kernel := strings.Repeat("vmlinuz ", 40000) // 320 kB: several copy buffers' worth
	files := map[string]string{
		"images/pxeboot/vmlinuz":                  kernel,
		"images/pxeboot/initrd.img":               "initrd",
		"repodata/repomd.xml":                     "<repomd/>",
		"Packages/bash-4.1.2-15.el6_4.x86_64.rpm": "rpm",
		".discinfo":                               "1385726532.68\nCentOS 6.5\nx86_64\n1\n",
	}
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	files[TreeinfoFile] = fmt.Sprintf(`[general]
family = CentOS
version = 6.5
arch = x86_64

[images-x86_64]
kernel = images/pxeboot/vmlinuz
initrd = images/pxeboot/initrd.img
boot.iso = images/boot.iso

[checksums]
images/pxeboot/vmlinuz = sha256:%s
`, sum(kernel))
	if mutate != nil {
		mutate(files)
	}
	sums := map[string]string{}
	for p, c := range files {
		if c == "" {
			continue
		}
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
		sums[p] = sum(c)
	}
	return sums
}

// makeISO builds an ISO image of dir with Debian's xorriso, Rock Ridge
// on so that lower-case and dot names survive, as on the CentOS DVD.
func makeISO(t testing.TB, dir string) string {
	t.Helper()
	if _, err := exec.LookPath("xorriso"); err != nil {
		t.Skip("xorriso not installed (make deps)")
	}
	iso := filepath.Join(t.TempDir(), "CentOS-6.5-x86_64-bin-DVD1.iso")
	out, err := exec.CommandContext(t.Context(), "xorriso", "-as", "mkisofs", "-R", "-J", "-V", "CentOS_6.5_Final", "-o", iso, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("xorriso: %v\n%s", err, out)
	}
	return iso
}

func fixedNow() time.Time { return time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) }

func TestImportISO(t *testing.T) {
	src := t.TempDir()
	sums := fakeTree(t, src, nil)
	iso := makeISO(t, src)
	cat := Catalog{Dir: filepath.Join(t.TempDir(), "images")}
	var phases []string
	m, err := cat.Import(t.Context(), iso, ImportOptions{Name: "centos-6.5", Now: fixedNow, Progress: func(p Progress) {
		if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
			phases = append(phases, p.Phase)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := &Manifest{
		Name: "centos-6.5", Family: "CentOS", Version: "6.5", Arch: "x86_64",
		Kernel: "images/pxeboot/vmlinuz", Initrd: "images/pxeboot/initrd.img",
		Source: iso, Imported: fixedNow(), TreeFiles: 6, TreeBytes: m.TreeBytes,
		Files: []FileSum{
			{Path: TreeinfoFile, Size: m.Files[0].Size, SHA256: sums[TreeinfoFile]},
			{Path: "images/pxeboot/initrd.img", Size: 6, SHA256: sums["images/pxeboot/initrd.img"]},
			{Path: "images/pxeboot/vmlinuz", Size: 320000, SHA256: sums["images/pxeboot/vmlinuz"]},
			{Path: "repodata/repomd.xml", Size: 9, SHA256: sums["repodata/repomd.xml"]},
		},
	}
	if d := cmp.Diff(want, m); d != "" {
		t.Errorf("manifest (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"extract", "hash"}, phases); d != "" {
		t.Errorf("progress phases (-want +got):\n%s", d)
	}
	// The tree is in place, with its manifest, and nothing else is left.
	read, err := cat.Manifest("centos-6.5")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(m, read); d != "" {
		t.Errorf("manifest on disk (-import +read):\n%s", d)
	}
	if left := cat.Leftovers(); len(left) > 0 {
		t.Errorf("leftovers: %v", left)
	}
	trees, err := cat.List()
	if err != nil || len(trees) != 1 || trees[0].Name != "centos-6.5" || trees[0].Err != nil {
		t.Errorf("List: %+v, %v", trees, err)
	}
	if bad, err := cat.Verify(t.Context(), "centos-6.5"); err != nil || len(bad) > 0 {
		t.Errorf("Verify of a fresh import: %v, %v", bad, err)
	}
	// The servers read the trees through the catalog's root.
	root, err := cat.OpenRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if b, err := root.ReadFile("centos-6.5/images/pxeboot/initrd.img"); err != nil || string(b) != "initrd" {
		t.Errorf("initrd through the root: %q, %v", b, err)
	}
}

func TestImportDirAndVerify(t *testing.T) {
	src := t.TempDir()
	fakeTree(t, src, nil)
	// A symlink inside the tree is kept.
	if err := os.Symlink("pxeboot/vmlinuz", filepath.Join(src, "images", "vmlinuz")); err != nil {
		t.Fatal(err)
	}
	cat := Catalog{Dir: t.TempDir()}
	if _, err := cat.Import(t.Context(), src, ImportOptions{Name: "centos-6.5"}); err != nil {
		t.Fatal(err)
	}
	tree := filepath.Join(cat.Dir, "centos-6.5")
	if err := os.WriteFile(filepath.Join(tree, "images/pxeboot/initrd.img"), []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A boot file replaced by a symlink out of the tree is reported, not followed.
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("<repomd/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	repomd := filepath.Join(tree, "repodata/repomd.xml")
	if err := os.Remove(repomd); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, repomd); err != nil {
		t.Fatal(err)
	}
	bad, err := cat.Verify(t.Context(), "centos-6.5")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range bad {
		got = append(got, m.Path)
	}
	if d := cmp.Diff([]string{"images/pxeboot/initrd.img", "repodata/repomd.xml"}, got); d != "" {
		t.Errorf("mismatches (-want +got):\n%s", d)
	}
	// A second import under the same name needs Force.
	if _, err := cat.Import(t.Context(), src, ImportOptions{Name: "centos-6.5"}); !errors.Is(err, ErrTreeExists) {
		t.Errorf("second import: %v, want ErrTreeExists", err)
	}
	if _, err := cat.Import(t.Context(), src, ImportOptions{Name: "centos-6.5", Force: true}); err != nil {
		t.Fatal(err)
	}
	if bad, err := cat.Verify(t.Context(), "centos-6.5"); err != nil || len(bad) > 0 {
		t.Errorf("Verify after a forced import: %v, %v", bad, err)
	}
	if ents, err := os.ReadDir(cat.Dir); err != nil || len(ents) != 1 {
		t.Errorf("after a forced import the catalog holds %v, %v; want the tree only", ents, err)
	}
}

func TestImportRefusals(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(map[string]string)
		link   [2]string // symlink to create: name, target
		want   string
	}{
		{name: "no treeinfo", mutate: func(f map[string]string) { f[TreeinfoFile] = "" }, want: ".treeinfo: missing: not an install tree"},
		{name: "no kernel", mutate: func(f map[string]string) { f["images/pxeboot/vmlinuz"] = "" },
			want: "[images-x86_64] kernel names images/pxeboot/vmlinuz, which is not in the tree"},
		{name: "no repodata", mutate: func(f map[string]string) { f["repodata/repomd.xml"] = "" },
			want: "the repository metadata names repodata/repomd.xml, which is not in the tree"},
		{name: "wrong arch", mutate: func(f map[string]string) {
			f[TreeinfoFile] = strings.Replace(strings.Replace(f[TreeinfoFile], "x86_64", "i386", -1), "[checksums]", "[x]", 1)
		}, want: ".treeinfo: [general] arch: is \"i386\", want \"x86_64\""},
		{name: "bad treeinfo line", mutate: func(f map[string]string) { f[TreeinfoFile] += "oops\n" },
			want: ".treeinfo:13: [checksums]: line \"oops\" is not \"key = value\""},
		{name: "checksum mismatch", mutate: func(f map[string]string) { f["images/pxeboot/vmlinuz"] = "other kernel" },
			want: "[checksums] images/pxeboot/vmlinuz: sha256:"},
		{name: "symlink out", link: [2]string{"images/passwd", "../../../../etc/passwd"}, want: "symlink images/passwd points to ../../../../etc/passwd, outside the tree"},
		{name: "absolute symlink", link: [2]string{"images/passwd", "/etc/passwd"}, want: "symlink images/passwd points to absolute path /etc/passwd"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := t.TempDir()
			fakeTree(t, src, tt.mutate)
			if tt.link[0] != "" {
				if err := os.Symlink(tt.link[1], filepath.Join(src, tt.link[0])); err != nil {
					t.Fatal(err)
				}
			}
			cat := Catalog{Dir: t.TempDir()}
			_, err := cat.Import(t.Context(), src, ImportOptions{Name: "centos-6.5"})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v\nwant one containing %q", err, tt.want)
			}
			assertEmpty(t, cat.Dir)
		})
	}
}

// assertEmpty fails unless dir holds nothing: no tree, no temporary.
func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("left behind: %s", e.Name())
	}
}

func TestImportBadSources(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.iso")
	if err := os.WriteFile(junk, []byte("not an iso"), 0o644); err != nil {
		t.Fatal(err)
	}
	cat := Catalog{Dir: filepath.Join(dir, "images")}
	for _, tt := range []struct{ name, src, tree, want string }{
		{"not an iso", junk, "centos-6.5", "not an ISO 9660 image"},
		{"missing", filepath.Join(dir, "nope.iso"), "centos-6.5", "no such file"},
		{"bad name", dir, "../etc", "invalid install tree name"},
		{"upper case name", dir, "CentOS", "invalid install tree name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cat.Import(t.Context(), tt.src, ImportOptions{Name: tt.tree})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			assertEmpty(t, cat.Dir)
		})
	}
}

// TestImportCancelled interrupts an import from inside its progress
// report, as ctrl-C would, and checks that nothing is left.
func TestImportCancelled(t *testing.T) {
	src := t.TempDir()
	fakeTree(t, src, nil)
	for _, tt := range []struct{ name, src string }{
		{"dir", src},
		{"iso", makeISO(t, src)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			cat := Catalog{Dir: t.TempDir()}
			_, err := cat.Import(ctx, tt.src, ImportOptions{Name: "centos-6.5", Progress: func(Progress) { cancel() }})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("error %v, want context.Canceled", err)
			}
			assertEmpty(t, cat.Dir)
		})
	}
}

func TestVerifyUnknown(t *testing.T) {
	cat := Catalog{Dir: t.TempDir()}
	if _, err := cat.Verify(t.Context(), "centos-7"); !errors.Is(err, ErrNoTree) {
		t.Errorf("got %v, want ErrNoTree", err)
	}
}
