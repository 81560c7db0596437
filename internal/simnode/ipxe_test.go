package simnode

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/provision/provision/internal/bootcfg"
	"github.com/provision/provision/provision"
)

// scriptRun is what the interpreter did with a script.
type scriptRun struct {
	Kind    actionKind
	Kernel  string
	Args    string
	Initrds []string
	Fetched []string
}

func runScript(t *testing.T, body []byte, platform string, fail map[string]bool) scriptRun {
	t.Helper()
	mac, _ := net.ParseMAC(nodeMAC)
	var got scriptRun
	env := &ipxeEnv{platform: platform, mac: mac, log: func(string, string) {},
		fetch: func(_ context.Context, url string) (int64, error) {
			got.Fetched = append(got.Fetched, url)
			if fail[url] {
				return 0, errors.New("404 Not Found")
			}
			return 1, nil
		}}
	act, err := env.run(context.Background(), body)
	if err != nil {
		t.Fatal(err)
	}
	got.Kind, got.Kernel, got.Args, got.Initrds = act.kind, act.kernel, strings.Join(act.args, " "), act.initrds
	return got
}

// TestIPXEScripts runs the scripts bootcfg renders for compute01 through
// the interpreter: install scripts boot the kernel with BOOTIF expanded,
// local scripts and the unknown-MAC script boot the disk on either
// platform.
func TestIPXEScripts(t *testing.T) {
	plan, _ := loadPlan(t)
	node, ok := plan.Node(nodeName)
	if !ok {
		t.Fatal("no compute01")
	}
	uefi := *node
	uefi.BootMode = "uefi"
	render := func(n *provision.NodePlan, netboot bool) []byte {
		b, err := bootcfg.IPXE(plan, n, bootcfg.State{Netboot: netboot, Token: provision.NewSecret("0123abcd")})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	mac, _ := net.ParseMAC(nodeMAC)
	const tree = "http://10.3.1.10/images/centos-6.5/images/pxeboot/"
	kernel, initrd := tree+"vmlinuz", tree+"initrd.img"
	installArgs := "ks=http://10.3.1.10/api/v1/nodes/compute01/kickstart?token=0123abcd ksdevice=bootif kssendmac " +
		"BOOTIF=01-52-54-00-5e-00-40 ip=10.3.1.40 netmask=255.255.255.0 gateway=10.3.1.10 dns=10.3.1.10 noipv6 biosdevname=1 text"
	tests := []struct {
		name     string
		script   []byte
		platform string
		fail     map[string]bool
		want     scriptRun
	}{
		{"install bios", render(node, true), "pcbios", nil,
			scriptRun{Kind: actionInstall, Kernel: kernel, Args: installArgs, Initrds: []string{initrd}, Fetched: []string{kernel, initrd}}},
		{"install uefi", render(&uefi, true), "efi", nil,
			scriptRun{Kind: actionInstall, Kernel: kernel, Args: "initrd=initrd.img " + installArgs, Initrds: []string{initrd}, Fetched: []string{kernel, initrd}}},
		{"local bios", render(node, false), "pcbios", nil, scriptRun{Kind: actionLocal}},
		{"local uefi", render(&uefi, false), "efi", nil, scriptRun{Kind: actionLocal}},
		{"unknown MAC on efi", bootcfg.UnknownIPXE(plan, mac), "efi", nil, scriptRun{Kind: actionLocal}},
		{"unknown MAC on bios", bootcfg.UnknownIPXE(plan, mac), "pcbios", nil, scriptRun{Kind: actionLocal}},
		{"not a script", []byte("<html>404</html>"), "pcbios", nil, scriptRun{Kind: actionLocal}},
		{"boot without kernel", []byte("#!ipxe\nboot || exit\n"), "pcbios", nil, scriptRun{Kind: actionLocal}},
		{"goto loop halts", []byte("#!ipxe\n:a\ngoto a\n"), "pcbios", nil, scriptRun{Kind: actionHalt}},
		{"iseq true branch", []byte("#!ipxe\niseq ${platform} efi && goto e || goto b\n:e\nkernel http://k/efi\nboot\n:b\nexit\n"), "efi", nil,
			scriptRun{Kind: actionInstall, Kernel: "http://k/efi", Fetched: []string{"http://k/efi"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runScript(t, tt.script, tt.platform, tt.fail)
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

// TestIPXEKernelMissing: a kernel that cannot be fetched takes the
// script's failure path, which sleeps 30 s and boots the disk; the sleep
// ends with the context (power-off).
func TestIPXEKernelMissing(t *testing.T) {
	plan, _ := loadPlan(t)
	node, _ := plan.Node(nodeName)
	b, err := bootcfg.IPXE(plan, node, bootcfg.State{Netboot: true})
	if err != nil {
		t.Fatal(err)
	}
	mac, _ := net.ParseMAC(nodeMAC)
	ctx, cancel := context.WithCancel(context.Background())
	var logged []string
	env := &ipxeEnv{platform: "pcbios", mac: mac,
		log: func(what, msg string) {
			logged = append(logged, what)
			if strings.Contains(msg, "in 30 s") {
				cancel() // power-off during the sleep
			}
		},
		fetch: func(context.Context, string) (int64, error) { return 0, errors.New("404 Not Found") }}
	if _, err := env.run(ctx, b); !errors.Is(err, context.Canceled) {
		t.Fatalf("run = %v, want the context's end", err)
	}
	if d := cmp.Diff([]string{"echo", "kernel", "echo"}, logged); d != "" {
		t.Errorf("steps (-want +got):\n%s", d)
	}
}

// TestPXELinuxConfigs reads the pxelinux configs bootcfg renders, and
// the names pxelinux asks for.
func TestPXELinuxConfigs(t *testing.T) {
	plan, _ := loadPlan(t)
	node, _ := plan.Node(nodeName)
	install, err := bootcfg.PXELinux(plan, node, bootcfg.State{Netboot: true, Token: provision.NewSecret("0123abcd")})
	if err != nil {
		t.Fatal(err)
	}
	local, err := bootcfg.PXELinux(plan, node, bootcfg.State{})
	if err != nil {
		t.Fatal(err)
	}
	got := parsePXELinux(install)
	// The plan knows the MAC: BOOTIF is in APPEND, not from IPAPPEND 2.
	if got.kernel != "images/centos-6.5/images/pxeboot/vmlinuz" || got.ipappend != 0 || got.localboot ||
		!strings.Contains(strings.Join(got.args, " "), "BOOTIF=01-52-54-00-5e-00-40") ||
		len(got.args) == 0 || got.args[0] != "initrd=images/centos-6.5/images/pxeboot/initrd.img" {
		t.Errorf("install config: %+v", got)
	}
	for name, cfg := range map[string][]byte{"local": local, "default": bootcfg.PXELinuxDefault(plan)} {
		if e := parsePXELinux(cfg); !e.localboot || e.kernel != "" {
			t.Errorf("%s config: %+v", name, e)
		}
	}
	mac, _ := net.ParseMAC(nodeMAC)
	names := pxelinuxNames(mac, netip.MustParseAddr("10.3.1.40"))
	want := []string{"pxelinux.cfg/01-52-54-00-5e-00-40", "pxelinux.cfg/0A030128", "pxelinux.cfg/0A03012",
		"pxelinux.cfg/0A0301", "pxelinux.cfg/0A030", "pxelinux.cfg/0A03", "pxelinux.cfg/0A0", "pxelinux.cfg/0A",
		"pxelinux.cfg/0", "pxelinux.cfg/default"}
	if d := cmp.Diff(want, names); d != "" {
		t.Errorf("names (-want +got):\n%s", d)
	}
}

func TestPXELinuxIPAppend(t *testing.T) {
	e := parsePXELinux([]byte("DEFAULT install\nLABEL local\n  LOCALBOOT 0\nLABEL install\n  KERNEL k\n  APPEND initrd=a,b ks=x\n  IPAPPEND 2\n"))
	if e.kernel != "k" || e.ipappend != 2 || e.localboot || strings.Join(e.args, " ") != "initrd=a,b ks=x" {
		t.Errorf("entry: %+v", e)
	}
}
