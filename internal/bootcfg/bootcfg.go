package bootcfg

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/provision/provision/kickstart"
	"github.com/provision/provision/provision"
)

// Errors callers can test with errors.Is.
var (
	// ErrBadArg is returned for a kernel argument iPXE or pxelinux would
	// interpret rather than pass on.
	ErrBadArg = errors.New("kernel argument with characters the boot loader would interpret")
	// ErrBadMAC is returned for a MAC address that is not six octets.
	ErrBadMAC = errors.New("not an Ethernet MAC address")
)

// State is what the config depends on beyond the plan.
type State struct {
	// Netboot says whether a network boot installs the node. The HTTP and
	// TFTP servers read it from the state store (flag "netboot"), falling
	// back to the plan's Netboot when the flag was never set.
	Netboot bool
	// Token is the node's callback token; when set, it is added to the
	// ks= URL as ?token=. Zero leaves the URL bare (for display).
	Token provision.Secret
	// TreePath is the install tree's path under the appliance URL; by
	// default kickstart.DefaultTreePath(node.Image).
	TreePath string
}

// Kernel and initrd of a CentOS 6 install tree, relative to the tree.
const (
	treeKernel = "images/pxeboot/vmlinuz"
	treeInitrd = "images/pxeboot/initrd.img"
)

// installBoot is what an install entry needs, in either dialect.
type installBoot struct {
	tree   string // tree path, "/images/centos-6.5"
	args   []string
	bootIF bool // args carry BOOTIF already
}

func install(plan *provision.Plan, node *provision.NodePlan, st State) (installBoot, error) {
	args, err := kickstart.KernelArgs(plan, node)
	if err != nil {
		return installBoot{}, err
	}
	ib := installBoot{tree: st.TreePath}
	if ib.tree == "" {
		ib.tree = kickstart.DefaultTreePath(node.Image)
	}
	ib.tree = "/" + strings.Trim(ib.tree, "/")
	for i, a := range args {
		if strings.HasPrefix(a, "ks=") && !st.Token.IsZero() {
			args[i] = a + "?token=" + st.Token.Reveal()
		}
		if strings.HasPrefix(a, "BOOTIF=") {
			ib.bootIF = true
		}
		if err := checkArg(args[i]); err != nil {
			return installBoot{}, fmt.Errorf("node %s: %w", node.Name, err)
		}
	}
	ib.args = args
	return ib, nil
}

// checkArg refuses what either dialect would interpret. The token is hex
// and the URLs are the plan's, so only a site's own kernel_args can fail;
// the error names the argument up to its first bad character only, in case
// it holds something private.
func checkArg(a string) error {
	if a == kickstart.IPXEBootIF {
		return nil
	}
	for i := 0; i < len(a); i++ {
		switch c := a[i]; {
		case c <= ' ' || c >= 0x7f, c == '$', c == '"', c == '\'', c == '#', c == '\\':
			return fmt.Errorf("%q: %w", a[:i], ErrBadArg)
		case c == '|' || c == '&':
			return fmt.Errorf("%q: %w", a[:i], ErrBadArg)
		}
	}
	return nil
}

// IPXE renders the node's iPXE script for its state.
func IPXE(plan *provision.Plan, node *provision.NodePlan, st State) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("#!ipxe\n")
	if node.Appliance || !st.Netboot {
		why := "netboot is off"
		if node.Appliance {
			why = "it is the appliance, never installed"
		}
		fmt.Fprintf(&b, "# provision: %s (site %s): %s, boot the local disk\n", node.Name, plan.Site.Name, why)
		fmt.Fprintf(&b, "echo provision: %s boots from its local disk\n", node.Name)
		localIPXE(&b, node.BootMode)
		return b.Bytes(), nil
	}
	ib, err := install(plan, node, st)
	if err != nil {
		return nil, err
	}
	base := strings.TrimRight(plan.Site.ApplianceURL, "/") + ib.tree + "/"
	args := ib.args
	if node.BootMode == "uefi" {
		// EFI-stub kernels find their initrd by the name given here.
		args = append([]string{"initrd=initrd.img"}, args...)
	}
	fmt.Fprintf(&b, "# provision: %s (site %s): netboot on, install %s\n", node.Name, plan.Site.Name, node.Image)
	fmt.Fprintf(&b, "echo provision: installing %s on %s\n", node.Image, node.Name)
	fmt.Fprintf(&b, "kernel %s%s %s || goto failed\n", base, treeKernel, strings.Join(args, " "))
	fmt.Fprintf(&b, "initrd --name initrd.img %s%s || goto failed\n", base, treeInitrd)
	b.WriteString("boot || goto failed\n")
	b.WriteString(":failed\n")
	fmt.Fprintf(&b, "echo provision: could not boot the installer of %s, booting the local disk in 30 s\n", node.Name)
	// A key pressed during sleep makes it fail, which would end the
	// script; the goto keeps the local boot either way.
	b.WriteString("sleep 30 || goto local\n")
	b.WriteString(":local\n")
	localIPXE(&b, node.BootMode)
	return b.Bytes(), nil
}

// localIPXE boots the local disk. On BIOS, sanboot of drive 0x80 starts
// the first hard disk's boot sector; should it fail, exit returns to the
// BIOS, which tries its next boot device. On UEFI exit returns to the
// firmware's boot manager, which does the same.
func localIPXE(b *bytes.Buffer, bootMode string) {
	switch bootMode {
	case "uefi":
		b.WriteString("exit\n")
	case "bios":
		b.WriteString("sanboot --no-describe --drive 0x80 || exit\n")
	default:
		// The boot mode is not known: ask iPXE which firmware it runs on.
		b.WriteString("iseq ${platform} efi && goto local_efi || goto local_bios\n")
		b.WriteString(":local_efi\nexit\n")
		b.WriteString(":local_bios\nsanboot --no-describe --drive 0x80 || exit\n")
	}
}

// UnknownIPXE is the script for a MAC the plan does not know: it says so
// on the console and boots the local disk. The server records the
// request as an event; the operator adds the MAC to the site file.
func UnknownIPXE(plan *provision.Plan, mac net.HardwareAddr) []byte {
	var b bytes.Buffer
	b.WriteString("#!ipxe\n")
	fmt.Fprintf(&b, "# provision: MAC %s is not in site %s: boot the local disk\n", mac, plan.Site.Name)
	fmt.Fprintf(&b, "echo provision: MAC %s is not in site %s, booting the local disk\n", mac, plan.Site.Name)
	localIPXE(&b, "")
	return b.Bytes()
}

// PXELinuxName is the TFTP name pxelinux asks for first: its ARP type
// (01, Ethernet) and the MAC in lower-case hex with hyphens.
func PXELinuxName(mac net.HardwareAddr) string {
	return "pxelinux.cfg/01-" + strings.ReplaceAll(mac.String(), ":", "-")
}

// PXELinux renders the node's pxelinux config for its state. pxelinux.0
// reads files over TFTP only, so kernel and initrd are named relative to
// the TFTP root, where the TFTP server serves install trees under the same
// paths as HTTP does.
func PXELinux(plan *provision.Plan, node *provision.NodePlan, st State) ([]byte, error) {
	var b bytes.Buffer
	if node.Appliance || !st.Netboot {
		fmt.Fprintf(&b, "# provision: %s (site %s): netboot off, boot the local disk\n", node.Name, plan.Site.Name)
		b.WriteString(serialDirective(node.Console))
		b.WriteString(pxelinuxLocal)
		return b.Bytes(), nil
	}
	ib, err := install(plan, node, st)
	if err != nil {
		return nil, err
	}
	tree := strings.TrimPrefix(ib.tree, "/") + "/"
	fmt.Fprintf(&b, "# provision: %s (site %s): netboot on, install %s\n", node.Name, plan.Site.Name, node.Image)
	b.WriteString(serialDirective(node.Console))
	b.WriteString("DEFAULT install\nPROMPT 0\nTIMEOUT 0\n")
	b.WriteString("LABEL install\n")
	fmt.Fprintf(&b, "  KERNEL %s%s\n", tree, treeKernel)
	fmt.Fprintf(&b, "  APPEND initrd=%s%s %s\n", tree, treeInitrd, strings.Join(ib.args, " "))
	if !ib.bootIF {
		// IPAPPEND 2 adds BOOTIF=01-<mac> of the booting NIC, which
		// network --device=bootif needs (kickstart.KernelArgs).
		b.WriteString("  IPAPPEND 2\n")
	}
	return b.Bytes(), nil
}

// serialDirective mirrors pxelinux's console to the serial port the
// kernel console uses ("ttyS1,115200n8" -> "SERIAL 1 115200"), so
// serial-over-LAN shows the boot loader too. SERIAL must come first in the
// file.
func serialDirective(console string) string {
	rest, ok := strings.CutPrefix(console, "ttyS")
	if !ok {
		return ""
	}
	port, opts, _ := strings.Cut(rest, ",")
	// The speed is the leading digits of "115200n8".
	baud := opts
	if i := strings.IndexFunc(opts, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		baud = opts[:i]
	}
	switch {
	case port == "" || strings.Trim(port, "0123456789") != "":
		return ""
	case opts == "":
		baud = "9600" // the kernel's default too
	case baud == "":
		return ""
	}
	return "SERIAL " + port + " " + baud + "\n"
}

const pxelinuxLocal = "DEFAULT local\nPROMPT 0\nTIMEOUT 0\nLABEL local\n  LOCALBOOT 0\n"

// PXELinuxDefault is pxelinux.cfg/default, read by a MAC the plan does not
// know: the local disk.
func PXELinuxDefault(plan *provision.Plan) []byte {
	return []byte("# provision: a MAC not in site " + plan.Site.Name + ": boot the local disk\n" + pxelinuxLocal)
}

// ParseMAC reads an Ethernet MAC as iPXE, pxelinux or a person writes it:
// aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff or aabbccddeeff, either case.
func ParseMAC(s string) (net.HardwareAddr, error) {
	h := s
	switch len(s) {
	case 17:
		sep := s[2]
		if sep != ':' && sep != '-' {
			return nil, fmt.Errorf("MAC %q: %w", clip(s), ErrBadMAC)
		}
		var sb strings.Builder
		for i := 0; i < 17; i++ {
			if i%3 == 2 {
				if s[i] != sep {
					return nil, fmt.Errorf("MAC %q: %w", clip(s), ErrBadMAC)
				}
				continue
			}
			sb.WriteByte(s[i])
		}
		h = sb.String()
	case 12:
	default:
		return nil, fmt.Errorf("MAC %q: %w", clip(s), ErrBadMAC)
	}
	mac := make(net.HardwareAddr, 6)
	for i := range mac {
		hi, ok1 := unhex(h[2*i])
		lo, ok2 := unhex(h[2*i+1])
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("MAC %q: %w", clip(s), ErrBadMAC)
		}
		mac[i] = hi<<4 | lo
	}
	return mac, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// clip keeps error strings short when the input is junk from the network.
func clip(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
