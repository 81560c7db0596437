package bootcfg

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/provision/provision/internal/sitetest"
	"github.com/provision/provision/provision"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// loadSite loads ../../sites/NAME.toml from a private copy (the secrets
// file must be mode 0600, which git does not keep).
func loadSite(tb testing.TB, name string) *provision.Plan {
	tb.Helper()
	return sitetest.Plan(tb, name, nil)
}

// variant is one rendering of a node's boot config.
type variant struct {
	name   string
	render func(*provision.Plan, *provision.NodePlan, State) ([]byte, error)
	mode   string // boot mode the node is given
	loader string
	mac    string // PXE MAC the plan knows, if any
	// console, when set, replaces the node's console.
	console string
	state   State
}

var variants = []variant{
	{name: "ipxe install (bios)", render: IPXE, mode: "bios", loader: "ipxe", state: State{Netboot: true, Token: provision.NewSecret("0123abcd")}},
	{name: "ipxe install (uefi, MAC known)", render: IPXE, mode: "uefi", loader: "ipxe", mac: "AA:BB:CC:00:00:01", state: State{Netboot: true, Token: provision.NewSecret("0123abcd")}},
	{name: "ipxe local (bios)", render: IPXE, mode: "bios", loader: "ipxe", state: State{Netboot: false}},
	{name: "ipxe local (uefi)", render: IPXE, mode: "uefi", loader: "ipxe", state: State{Netboot: false}},
	{name: "pxelinux install", render: PXELinux, mode: "bios", loader: "pxelinux", state: State{Netboot: true, Token: provision.NewSecret("0123abcd")}},
	{name: "pxelinux install (MAC known, no token)", render: PXELinux, mode: "bios", loader: "pxelinux", mac: "aa:bb:cc:00:00:01", state: State{Netboot: true}},
	{name: "pxelinux local", render: PXELinux, mode: "bios", loader: "pxelinux", state: State{Netboot: false}},
	{name: "pxelinux install (serial console)", render: PXELinux, mode: "bios", loader: "pxelinux", console: "ttyS1,115200n8", state: State{Netboot: true, Token: provision.NewSecret("0123abcd")}},
	{name: "ipxe install (serial console)", render: IPXE, mode: "bios", loader: "ipxe", console: "ttyS1,115200n8", state: State{Netboot: true, Token: provision.NewSecret("0123abcd")}},
}

// TestGolden renders every variant of every node of both example sites
// into one golden file per node.
func TestGolden(t *testing.T) {
	for _, site := range []string{"paper", "staging"} {
		t.Run(site, func(t *testing.T) {
			plan := loadSite(t, site)
			for _, node := range plan.Nodes {
				var out bytes.Buffer
				for _, v := range variants {
					n := *node
					n.BootMode, n.Loader, n.PXE.MAC = v.mode, v.loader, v.mac
					if v.console != "" {
						n.Console = v.console
					}
					b, err := v.render(plan, &n, v.state)
					if err != nil {
						t.Fatalf("%s %s: %v", node.Name, v.name, err)
					}
					fmt.Fprintf(&out, "===== %s\n%s", v.name, b)
				}
				golden(t, filepath.Join("testdata", site, node.Name+".txt"), out.Bytes())
			}
			mac, _ := ParseMAC("52:54:00:12:34:56")
			unknown := append(UnknownIPXE(plan, mac), "===== pxelinux.cfg/default\n"...)
			golden(t, filepath.Join("testdata", site, "unknown-mac.txt"), append(unknown, PXELinuxDefault(plan)...))
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s (-want +got):\n%s", path, d)
	}
}

// TestScriptSyntax checks every rendered iPXE line against the commands
// and options Debian's iPXE 1.0.0+git-20190125 has.
func TestScriptSyntax(t *testing.T) {
	known := map[string]bool{"#!ipxe": true, "#": true, "echo": true, "kernel": true, "initrd": true,
		"boot": true, "sleep": true, "sanboot": true, "exit": true, "iseq": true}
	for _, site := range []string{"paper", "staging"} {
		plan := loadSite(t, site)
		mac, _ := ParseMAC("52:54:00:12:34:56")
		scripts := [][]byte{UnknownIPXE(plan, mac)}
		for _, node := range plan.Nodes {
			for _, v := range variants {
				n := *node
				n.BootMode, n.Loader = v.mode, v.loader
				if b, err := IPXE(plan, &n, v.state); err == nil {
					scripts = append(scripts, b)
				}
			}
		}
		for _, s := range scripts {
			if !bytes.HasPrefix(s, []byte("#!ipxe\n")) {
				t.Fatalf("script without #!ipxe:\n%s", s)
			}
			for _, line := range strings.Split(strings.TrimSpace(string(s)), "\n") {
				cmd, _, _ := strings.Cut(line, " ")
				if strings.HasPrefix(cmd, ":") {
					continue
				}
				if !known[cmd] {
					t.Errorf("line %q: command %q not in the checked set", line, cmd)
				}
				if strings.Contains(line, "${") && !strings.Contains(line, "${netX/mac:hexhyp}") && !strings.Contains(line, "${platform}") {
					t.Errorf("line %q expands a setting not checked", line)
				}
			}
		}
	}
}

func TestKernelArgsRefused(t *testing.T) {
	plan := loadSite(t, "staging")
	for _, bad := range []string{"a b", "x=${net0/ip}", "q\"", "a||b", "a&&b", "#c", "nl\n"} {
		n := *plan.Nodes[1]
		n.KernelArgs = []string{bad}
		_, err := IPXE(plan, &n, State{Netboot: true})
		if !errors.Is(err, ErrBadArg) {
			t.Errorf("kernel arg %q: err %v, want ErrBadArg", bad, err)
		}
		_, err = PXELinux(plan, &n, State{Netboot: true})
		if !errors.Is(err, ErrBadArg) {
			t.Errorf("pxelinux kernel arg %q: err %v, want ErrBadArg", bad, err)
		}
	}
}

func TestParseMAC(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"52:54:00:12:34:56", "52:54:00:12:34:56", true},
		{"52-54-00-12-34-AB", "52:54:00:12:34:ab", true},
		{"525400123456", "52:54:00:12:34:56", true},
		{"52:54-00:12:34:56", "", false},
		{"52:54:00:12:34", "", false},
		{"52:54:00:12:34:5g", "", false},
		{"", "", false},
		{"52:54:00:12:34:56:78", "", false},
		{"0x5254001234", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMAC(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseMAC(%q) err = %v, want ok %v", tt.in, err, tt.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrBadMAC) {
					t.Errorf("err %v is not ErrBadMAC", err)
				}
				return
			}
			if got.String() != tt.want {
				t.Errorf("ParseMAC(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzParseMAC: any input either fails with ErrBadMAC or gives six
// octets that print back to something ParseMAC reads the same.
func FuzzParseMAC(f *testing.F) {
	for _, s := range []string{"52:54:00:12:34:56", "52-54-00-12-34-56", "525400123456", "", "zz:zz:zz:zz:zz:zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mac, err := ParseMAC(s)
		if err != nil {
			if !errors.Is(err, ErrBadMAC) {
				t.Fatalf("ParseMAC(%q): %v", s, err)
			}
			if len(err.Error()) > 200 {
				t.Fatalf("error too long: %d bytes", len(err.Error()))
			}
			return
		}
		if len(mac) != 6 {
			t.Fatalf("ParseMAC(%q) = %d octets", s, len(mac))
		}
		again, err := ParseMAC(mac.String())
		if err != nil || again.String() != mac.String() {
			t.Fatalf("round trip of %q: %v %v", s, again, err)
		}
	})
}

func TestSerialDirective(t *testing.T) {
	for in, want := range map[string]string{
		"ttyS0,115200n8": "SERIAL 0 115200\n",
		"ttyS1,57600":    "SERIAL 1 57600\n",
		"ttyS1":          "SERIAL 1 9600\n",
		"tty0":           "",
		"":               "",
		"ttyS,115200":    "",
		"ttyS0,fast":     "",
		"ttyS0 x,9600":   "",
	} {
		if got := serialDirective(in); got != want {
			t.Errorf("serialDirective(%q) = %q, want %q", in, got, want)
		}
	}
}
