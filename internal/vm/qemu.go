package vm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// Firmware is how a VM network-boots.
type Firmware string

const (
	// BIOS is SeaBIOS with Debian's iPXE ROM on the NIC: iPXE's own DHCP
	// (user class iPXE) asks for the script URL.
	BIOS Firmware = "bios"
	// UEFI is OVMF with no NIC ROM: its own PXE asks DHCP with arch 7,
	// fetches ipxe.efi over TFTP, and that iPXE asks for the script.
	UEFI Firmware = "uefi"
)

// OVMF is where Debian's ovmf package puts the firmware.
const OVMF = "/usr/share/ovmf/OVMF.fd"

// Config describes one VM.
type Config struct {
	Name     string
	MAC      string // the NIC's MAC, the node's PXE MAC
	Tap      string // an existing tap device the NIC is plugged into
	Firmware Firmware
	// Serial is the file the serial console (firmware, iPXE, kernel,
	// installer) is written to.
	Serial string
	// MemoryMiB defaults to 384.
	MemoryMiB int
	// QEMU is the emulator binary (default qemu-system-x86_64).
	QEMU string
	// Disk, when set, is a raw image file the VM sees as its disk
	// (virtio, /dev/vda): the installer leaves its record there.
	Disk string
	// Namespace is the network namespace the tap is in, where QEMU runs
	// (ip netns exec); "" for this one.
	Namespace string
	// Direct, when set, boots a kernel and initrd directly instead of
	// the network (the firmware's own loader, as -kernel does).
	Direct *Direct
}

// Direct is a kernel booted without the network.
type Direct struct {
	Kernel, Initrd, Append string
}

// ErrNoQEMU says QEMU or its firmware is not installed.
var ErrNoQEMU = errors.New("QEMU not installed (Debian: qemu-system-x86 ipxe-qemu ovmf)")

// Command returns the QEMU command of the VM; the caller starts it (in
// the namespace of its tap) and kills it to power the VM off. QEMU runs
// headless with no monitor, the serial console to cfg.Serial:
// -nographic, because it also tells SeaBIOS (and so iPXE's ROM) to write
// to the serial port.
func Command(ctx context.Context, cfg Config) (*exec.Cmd, error) {
	bin := cfg.QEMU
	if bin == "" {
		bin = "qemu-system-x86_64"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("vm %s: %w", cfg.Name, ErrNoQEMU)
	}
	if cfg.MAC == "" || cfg.Tap == "" || cfg.Serial == "" {
		return nil, fmt.Errorf("vm %s: MAC, tap and serial file are required", cfg.Name)
	}
	mem := cfg.MemoryMiB
	if mem == 0 {
		mem = 384
	}
	// Emulated (TCG) always: on the nested virtual machine this was
	// built on, /dev/kvm exists but a KVM guest's iPXE hung at its first
	// prompt.
	accel := "tcg"
	args := []string{"-name", cfg.Name, "-m", strconv.Itoa(mem),
		"-nographic", "-monitor", "none", "-nodefaults", "-no-user-config",
		"-serial", "file:" + cfg.Serial,
		"-netdev", "tap,id=pxe,ifname=" + cfg.Tap + ",script=no,downscript=no"}
	if cfg.Disk != "" {
		args = append(args, "-drive", "file="+cfg.Disk+",format=raw,if=virtio")
	}
	if d := cfg.Direct; d != nil {
		args = append(args, "-kernel", d.Kernel, "-initrd", d.Initrd, "-append", d.Append)
	} else {
		args = append(args, "-boot", "order=n")
	}
	nic := "virtio-net-pci,netdev=pxe,mac=" + strings.ToLower(cfg.MAC)
	switch cfg.Firmware {
	case BIOS, "":
		args = append(args, "-machine", "pc,accel="+accel, "-device", nic)
	case UEFI:
		if _, err := os.Stat(OVMF); err != nil {
			return nil, fmt.Errorf("vm %s: %w: %v", cfg.Name, ErrNoQEMU, err)
		}
		// romfile= empty: OVMF's own virtio-net driver and PXE, not iPXE's ROM.
		args = append(args, "-machine", "q35,accel="+accel, "-bios", OVMF, "-device", nic+",romfile=")
	default:
		return nil, fmt.Errorf("vm %s: firmware %q: want bios or uefi", cfg.Name, cfg.Firmware)
	}
	if cfg.Namespace != "" {
		return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", cfg.Namespace, path}, args...)...), nil
	}
	return exec.CommandContext(ctx, path, args...), nil
}

// LocalBootSign is what a firmware prints on the serial console when,
// its netboot off (a DHCP offer without a boot file), it turns to the
// disk.
func LocalBootSign(fw Firmware) string {
	if fw == UEFI {
		return "BdsDxe: failed to load"
	}
	return "Booting from Hard Disk"
}
