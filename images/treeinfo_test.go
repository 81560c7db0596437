package images

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParseTreeinfoCentOS65(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "centos-6.5.treeinfo"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseTreeinfo("centos-6.5.treeinfo", data)
	if err != nil {
		t.Fatal(err)
	}
	want := &Treeinfo{
		Family: "CentOS", Version: "6.5", Arch: "x86_64",
		Kernel: "images/pxeboot/vmlinuz", Initrd: "images/pxeboot/initrd.img",
		Stage2: "images/install.img",
		Images: map[string]string{
			"images/pxeboot/vmlinuz":    "images-x86_64 kernel",
			"images/pxeboot/initrd.img": "images-x86_64 initrd",
			"images/boot.iso":           "images-x86_64 boot.iso",
			"images/install.img":        "stage2 mainimage",
		},
	}
	if d := cmp.Diff(want, got, cmpopts.IgnoreFields(Treeinfo{}, "Checksums")); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if len(got.Checksums) != 5 {
		t.Errorf("checksums: got %d, want 5", len(got.Checksums))
	}
}

func TestParseTreeinfoErrors(t *testing.T) {
	const good = "[general]\nfamily = CentOS\nversion = 6.5\narch = x86_64\n[images-x86_64]\nkernel = images/pxeboot/vmlinuz\ninitrd = images/pxeboot/initrd.img\n"
	for _, tt := range []struct {
		name, data string
		want       []string // each must appear in the error
	}{
		{"empty", "", []string{"t.treeinfo: [general]: section missing"}},
		{"no arch", strings.Replace(good, "arch = x86_64\n", "", 1), []string{"t.treeinfo:1: [general] arch: missing"}},
		{"empty version", strings.Replace(good, "6.5", "", 1), []string{"t.treeinfo:1: [general] version: missing"}},
		{"no images section", strings.Replace(good, "[images-x86_64]", "[images-i386]", 1), []string{"t.treeinfo: [images-x86_64]: section missing"}},
		{"no initrd", strings.Replace(good, "initrd = images/pxeboot/initrd.img\n", "", 1), []string{"t.treeinfo:5: [images-x86_64] initrd: missing"}},
		{"absolute kernel", strings.Replace(good, "kernel = images", "kernel = /images", 1), []string{"t.treeinfo:6: [images-x86_64] kernel: path \"/images/pxeboot/vmlinuz\" is absolute"}},
		{"dotdot initrd", strings.Replace(good, "initrd = images", "initrd = ../../etc", 1), []string{"t.treeinfo:7: [images-x86_64] initrd: path \"../../etc/pxeboot/initrd.img\" is not a clean relative path"}},
		{"backslash", strings.Replace(good, "kernel = images/", `kernel = images\`, 1), []string{"t.treeinfo:6: [images-x86_64] kernel: path", "backslash"}},
		{"not key value", good + "garbage\n", []string{"t.treeinfo:8: [images-x86_64]: line \"garbage\" is not \"key = value\""}},
		{"key before section", "family = CentOS\n" + good, []string{"t.treeinfo:1: family: key before the first [section]"}},
		{"repeated key", good + "kernel = other\n", []string{"t.treeinfo:8: [images-x86_64] kernel: key repeated (first on line 6)"}},
		{"repeated section", good + "[general]\n", []string{"t.treeinfo:8: [general]: section repeated (first on line 1)"}},
		{"bad header", "[general\n" + good, []string{"t.treeinfo:1: malformed section header \"[general\""}},
		{"bad checksum", good + "[checksums]\nimages/pxeboot/vmlinuz = sha256:abc\n", []string{"t.treeinfo:9: [checksums] images/pxeboot/vmlinuz: sha256 \"abc\" is not 64 hex digits"}},
		{"checksum no algorithm", good + "[checksums]\nimages/pxeboot/vmlinuz = abc\n", []string{"[checksums] images/pxeboot/vmlinuz: checksum \"abc\" is not \"algorithm:hex\""}},
		{"continuation without key", "  indented\n" + good, []string{"t.treeinfo:1: indented line \"indented\" continues no key"}},
		{"two problems", strings.Replace(strings.Replace(good, "family = CentOS\n", "", 1), "kernel = images", "kernel = /images", 1),
			[]string{"[general] family: missing", "[images-x86_64] kernel: path \"/images"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTreeinfo("t.treeinfo", []byte(tt.data))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrTreeinfo) {
				t.Errorf("%v: not ErrTreeinfo", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseTreeinfoDialect(t *testing.T) {
	data := "; comment\n# comment\n[general]\nFamily: CentOS\nversion=6.5\narch = x86_64\r\nvariant = Server\n  Extra\n[images-x86_64]\nkernel = k\ninitrd = i\n"
	ti, err := ParseTreeinfo("t", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	got := []string{ti.Family, ti.Version, ti.Arch, ti.Variant, ti.Kernel, ti.Initrd}
	if d := cmp.Diff([]string{"CentOS", "6.5", "x86_64", "Server\nExtra", "k", "i"}, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

// FuzzParseTreeinfo checks that no .treeinfo crashes the parser and that
// whatever it accepts names only clean paths inside the tree.
func FuzzParseTreeinfo(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.treeinfo"))
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("[general]\nfamily=a\nversion=1\narch=x\n[images-x]\nkernel=../k\ninitrd=i\n"))
	f.Add([]byte("[general]\n  x\n[\n]\n=\n:\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ti, err := ParseTreeinfo("fuzz", data)
		if err != nil {
			if ti != nil {
				t.Fatal("result with error")
			}
			return
		}
		for _, p := range append([]string{ti.Kernel, ti.Initrd}, bootFiles(ti)...) {
			if treePath(p) != nil || !filepath.IsLocal(p) {
				t.Fatalf("accepted path %q", p)
			}
		}
	})
}
