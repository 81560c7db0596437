package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// imagesCLI runs the CLI in-process and returns stdout, stderr and the error.
func imagesCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(t.Context(), args, strings.NewReader(""), &out, &errb, func(string) string { return "" })
	return out.String(), errb.String(), err
}

// centosDir writes a minimal CentOS-6.5-shaped install tree.
func centosDir(t *testing.T, treeinfo string) string {
	t.Helper()
	dir := t.TempDir()
	for p, c := range map[string]string{
		".treeinfo":                 treeinfo,
		"images/pxeboot/vmlinuz":    "kernel",
		"images/pxeboot/initrd.img": "initrd",
		"repodata/repomd.xml":       "<repomd/>",
	} {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const goodTreeinfo = `[general]
family = CentOS
version = 6.5
arch = x86_64

[images-x86_64]
kernel = images/pxeboot/vmlinuz
initrd = images/pxeboot/initrd.img
`

func TestImagesImportListVerify(t *testing.T) {
	if _, err := exec.LookPath("xorriso"); err != nil {
		t.Skip("xorriso not installed (make deps)")
	}
	state := t.TempDir()
	iso := filepath.Join(t.TempDir(), "centos.iso")
	if out, err := exec.CommandContext(t.Context(), "xorriso", "-as", "mkisofs", "-R", "-J", "-o", iso, centosDir(t, goodTreeinfo)).CombinedOutput(); err != nil {
		t.Fatalf("xorriso: %v\n%s", err, out)
	}
	out, stderr, err := imagesCLI(t, "--state", state, "images", "import", iso, "--name", "centos-6.5")
	if err != nil {
		t.Fatalf("import: %v\n%s", err, stderr)
	}
	if want := "imported centos-6.5: CentOS 6.5 x86_64, 4 files"; !strings.HasPrefix(out, want) {
		t.Errorf("import printed %q, want %q...", out, want)
	}
	if !strings.Contains(stderr, "extract:") {
		t.Errorf("no progress on stderr: %q", stderr)
	}

	out, _, err = imagesCLI(t, "--state", state, "images", "list")
	if err != nil || !strings.Contains(out, "centos-6.5") || !strings.Contains(out, "CentOS 6.5 x86_64") {
		t.Errorf("list: %v\n%s", err, out)
	}
	out, _, err = imagesCLI(t, "--state", state, "images", "list", "--json")
	var js struct {
		Trees []struct {
			Name     string
			Manifest struct{ Files []struct{ Path string } }
		}
	}
	if err != nil || json.Unmarshal([]byte(out), &js) != nil || len(js.Trees) != 1 || len(js.Trees[0].Manifest.Files) != 4 {
		t.Errorf("list --json: %v\n%s", err, out)
	}

	out, _, err = imagesCLI(t, "--state", state, "images", "verify")
	if err != nil || out != "centos-6.5: ok\n" {
		t.Errorf("verify: %v, %q", err, out)
	}
	initrd := filepath.Join(state, "images", "centos-6.5", "images/pxeboot/initrd.img")
	if err := os.WriteFile(initrd, []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err = imagesCLI(t, "--state", state, "images", "verify", "centos-6.5")
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(out, "centos-6.5: images/pxeboot/initrd.img: sha256 ") {
		t.Errorf("verify after tampering: %v, %q", err, out)
	}

	// A second import needs --force.
	_, _, err = imagesCLI(t, "--state", state, "images", "import", iso, "--name", "centos-6.5")
	if err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("second import: %v", err)
	}
	if _, _, err := imagesCLI(t, "--state", state, "images", "import", iso, "--name", "centos-6.5", "--force"); err != nil {
		t.Errorf("forced import: %v", err)
	}
	if out, _, err := imagesCLI(t, "--state", state, "images", "verify"); err != nil {
		t.Errorf("verify after forced import: %v, %q", err, out)
	}
}

func TestImagesImportErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		args func(dir string) []string
		want string
	}{
		{"no name", func(dir string) []string { return []string{"images", "import", dir} }, `required flag(s) "name" not set`},
		{"bad name", func(dir string) []string { return []string{"images", "import", dir, "--name", "../x"} }, "invalid install tree name"},
		{"no arch in treeinfo", func(string) []string {
			dir := centosDir(t, strings.Replace(goodTreeinfo, "arch = x86_64\n", "", 1))
			return []string{"images", "import", dir, "--name", "centos-6.5"}
		}, ".treeinfo:1: [general] arch: missing"},
		{"wrong arch", func(dir string) []string { return []string{"images", "import", dir, "--name", "c", "--arch", "i386"} },
			`.treeinfo: [general] arch: is "x86_64", want "i386"`},
		{"verify unknown", func(string) []string { return []string{"images", "verify", "centos-7"} }, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			state := t.TempDir()
			args := append([]string{"--state", state}, tt.args(centosDir(t, goodTreeinfo))...)
			out, _, err := imagesCLI(t, args...)
			if err == nil {
				t.Fatalf("no error; output %q", out)
			}
			if !strings.Contains(err.Error()+out, tt.want) {
				t.Errorf("error %v, output %q; want %q", err, out, tt.want)
			}
			if ents, _ := os.ReadDir(filepath.Join(state, "images")); len(ents) > 0 {
				t.Errorf("left in the state directory: %v", ents)
			}
		})
	}
}

func TestImagesListLoaderFlag(t *testing.T) {
	loader := filepath.Join(t.TempDir(), "custom.kpxe")
	if err := os.WriteFile(loader, []byte("ipxe"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err := imagesCLI(t, "--state", t.TempDir(), "images", "list", "--loader", "undionly.kpxe="+loader)
	if err != nil || !strings.Contains(out, loader) || !strings.Contains(out, "no install trees") {
		t.Errorf("list: %v\n%s", err, out)
	}
	_, _, err = imagesCLI(t, "--state", t.TempDir(), "images", "list", "--loader", "undionly.kpxe=/nonexistent")
	if err == nil || !strings.Contains(err.Error(), "configured path /nonexistent") {
		t.Errorf("missing configured loader: %v", err)
	}
}
