package kickstart

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/provision/provision/provision"
)

// Sizes of the OS volume's fixed partitions, in MiB.
const (
	bootMiB = 500
	efiMiB  = 200
	swapMiB = 4096
)

// sizeSlack is how far (in percent) a disk the installer finds may differ
// from the plan's size: a "120GB" SSD or a PERC virtual disk is a little
// more or less than 120e9 bytes.
const sizeSlack = 5

// device is a disk as the installer sees it: a physical disk, or one PERC
// virtual disk standing for several.
type device struct {
	Dev        string // sda
	What       string // for people: "slot 0 120GB ssd", "virtual disk os (RAID-1, slots 0,1)"
	MinSectors int64  // 512-byte sectors
	MaxSectors int64
	vol        *provision.Volume
}

// swiftDisk is a Swift disk formatted and labelled by %post.
type swiftDisk struct{ Dev, Label, Mount string }

// layout is the disk part of a kickstart.
type layout struct {
	Devices    []device
	OSDevices  []string // bootloader --driveorder
	Parts      []string // part, raid, volgroup and logvol lines
	Swift      []swiftDisk
	VGs        []string // volume groups %post checks
	SoftRAID   bool
	OnlyUseCSV string
}

// devName is the kernel's name of the i-th SCSI disk: sda..sdz, sdaa, ...
func devName(i int) string {
	name := ""
	for i++; i > 0; i = (i - 1) / 26 {
		name = string(rune('a'+(i-1)%26)) + name
	}
	return "sd" + name
}

// devices lists the disks the installer should find, in order.
func devices(node *provision.NodePlan) ([]device, error) {
	disks := map[int]provision.Disk{}
	for _, d := range node.Hardware.Disks {
		disks[d.Slot] = d
	}
	used := map[int]bool{}
	var out []device
	add := func(bytes int64, what string, v *provision.Volume) {
		out = append(out, device{Dev: devName(len(out)), What: what, vol: v,
			MinSectors: bytes / 512 * (100 - sizeSlack) / 100,
			MaxSectors: bytes / 512 * (100 + sizeSlack) / 100})
	}
	for i := range node.Storage {
		v := &node.Storage[i]
		for _, m := range v.Members {
			if _, ok := disks[m]; !ok {
				return nil, fmt.Errorf("node %s: volume %s: slot %d is not a disk of hardware %s", node.Name, v.Name, m, node.Hardware.Name)
			}
			used[m] = true
		}
		if v.Hardware {
			add(v.Bytes, fmt.Sprintf("virtual disk %s (RAID-%s of slots %s)", v.Name, v.Level, joinInts(v.Members)), v)
			continue
		}
		for _, m := range v.Members {
			d := disks[m]
			add(d.Bytes, "slot "+strconv.Itoa(m)+" "+d.Size+" "+d.Kind, v)
		}
	}
	// Disks in no volume are still checked: they are part of the machine
	// the plan describes. The installer does not touch them.
	for _, d := range node.Hardware.Disks {
		if !used[d.Slot] {
			add(d.Bytes, "slot "+strconv.Itoa(d.Slot)+" "+d.Size+" "+d.Kind+" (unused)", nil)
		}
	}
	return out, nil
}

// twoDigits writes n with at least two digits, as %02d does.
func twoDigits(n int) string {
	if n >= 0 && n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// layoutFor works out the partitioning of a node.
func layoutFor(node *provision.NodePlan) (layout, error) {
	devs, err := devices(node)
	if err != nil {
		return layout{}, err
	}
	l := layout{Devices: devs}
	b := partBuilder{l: &l, uefi: node.BootMode == "uefi"}
	var only []string
	for _, d := range devs {
		if d.vol != nil {
			only = append(only, d.Dev)
		}
	}
	l.OnlyUseCSV = strings.Join(only, ",")
	hasOS := false
	for i := range node.Storage {
		v := &node.Storage[i]
		var vdevs []string
		for _, d := range devs {
			if d.vol == v {
				vdevs = append(vdevs, d.Dev)
			}
		}
		if err := b.volume(v, vdevs); err != nil {
			return layout{}, fmt.Errorf("node %s: volume %s: %w", node.Name, v.Name, err)
		}
		hasOS = hasOS || v.Use == provision.UseOS
	}
	if !hasOS {
		return layout{}, fmt.Errorf("node %s: %w: no OS volume", node.Name, ErrUnsupported)
	}
	return l, nil
}

// partBuilder writes partitioning lines, numbering raid members, md
// devices and physical volumes as it goes.
type partBuilder struct {
	l    *layout
	uefi bool
	raid int // next raid.NN
	md   int // next mdN
	pv   int // next pv.NN
}

func (b *partBuilder) add(format string, a ...any) {
	b.l.Parts = append(b.l.Parts, fmt.Sprintf(format, a...))
}

// members writes one raid member partition per device and returns their
// names.
func (b *partBuilder) members(devs []string, size string, primary bool) []string {
	var names []string
	for _, d := range devs {
		b.raid++
		n := "raid." + twoDigits(b.raid)
		opt := ""
		if primary {
			opt = " --asprimary"
		}
		b.l.Parts = append(b.l.Parts, "part "+n+" "+size+" --ondisk="+d+opt)
		names = append(names, n)
	}
	return names
}

// array writes a raid line over members and returns its md device.
func (b *partBuilder) array(target, level, fs string, members []string) string {
	md := "md" + strconv.Itoa(b.md)
	b.md++
	fsOpt := ""
	if fs != "" {
		fsOpt = " --fstype=" + fs
	}
	b.add("raid %s --level=%s --device=%s%s %s", target, level, md, fsOpt, strings.Join(members, " "))
	b.l.SoftRAID = true
	return md
}

func (b *partBuilder) volume(v *provision.Volume, devs []string) error {
	if len(devs) == 0 {
		return fmt.Errorf("%w: no disks", ErrUnsupported)
	}
	soft := len(devs) > 1
	if !soft && !v.Hardware && v.Level != "jbod" && v.Use != provision.UseSwift {
		return fmt.Errorf("%w: RAID-%s over one disk", ErrUnsupported, v.Level)
	}
	if soft && v.Level == "jbod" && v.Use != provision.UseSwift {
		return fmt.Errorf("%w: %d JBOD disks for one %s volume", ErrUnsupported, len(devs), v.Use)
	}
	switch v.Use {
	case provision.UseOS:
		b.os(v, devs, soft)
	case provision.UseData, provision.UseEphemeral:
		b.add("# %s volume %s: RAID-%s, hardware=%t", v.Use, v.Name, v.Level, v.Hardware)
		if soft {
			b.array(v.Mount, v.Level, v.FS, b.members(devs, "--size=1 --grow", false))
		} else {
			b.add("part %s --fstype=%s --size=1 --grow --ondisk=%s", v.Mount, v.FS, devs[0])
		}
	case provision.UseLVM:
		b.add("# LVM volume %s: RAID-%s, hardware=%t, the physical volume of %s (not mounted)", v.Name, v.Level, v.Hardware, v.VG)
		b.pv++
		pv := "pv." + twoDigits(b.pv)
		if soft {
			b.array(pv, v.Level, "", b.members(devs, "--size=1 --grow", false))
		} else {
			b.add("part %s --size=1 --grow --ondisk=%s", pv, devs[0])
		}
		b.add("volgroup %s %s", v.VG, pv)
		b.l.VGs = append(b.l.VGs, v.VG)
	case provision.UseSwift:
		if len(v.Labels) != len(devs) {
			return fmt.Errorf("%w: %d labels for %d Swift disks", ErrUnsupported, len(v.Labels), len(devs))
		}
		for i, d := range devs {
			b.l.Swift = append(b.l.Swift, swiftDisk{Dev: d, Label: v.Labels[i], Mount: v.Mount + "/" + v.Labels[i]})
		}
	default:
		return fmt.Errorf("%w: volume use %q", ErrUnsupported, v.Use)
	}
	return nil
}

// os lays out /boot, swap and / on the OS volume. /boot is always a RAID-1
// of every member, whatever the volume's level: the legacy GRUB of EL6
// reads only a plain or mirrored /boot. UEFI's ESP cannot be on md in EL6,
// so it is a plain partition on the first OS disk.
func (b *partBuilder) os(v *provision.Volume, devs []string, soft bool) {
	b.l.OSDevices = devs
	b.add("# OS volume %s: RAID-%s, hardware=%t", v.Name, v.Level, v.Hardware)
	if b.uefi {
		b.add("part /boot/efi --fstype=efi --size=%d --ondisk=%s", efiMiB, devs[0])
	}
	if !soft {
		d := devs[0]
		b.add("part /boot --fstype=ext4 --size=%d --ondisk=%s --asprimary", bootMiB, d)
		b.add("part swap --size=%d --ondisk=%s", swapMiB, d)
		b.add("part / --fstype=%s --size=1 --grow --ondisk=%s", v.FS, d)
		return
	}
	b.array("/boot", "1", "ext4", b.members(devs, fmt.Sprintf("--size=%d", bootMiB), true))
	b.array("swap", v.Level, "swap", b.members(devs, fmt.Sprintf("--size=%d", swapMiB), false))
	b.array("/", v.Level, v.FS, b.members(devs, "--size=1 --grow", false))
}
