package provision

import (
	"fmt"
	"slices"
	"strings"
)

// raidMin is the fewest members each RAID level works with.
func raidMin(level string) (int, bool) {
	switch level {
	case "0", "1":
		return 2, true
	case "5":
		return 3, true
	case "6", "10":
		return 4, true
	case "jbod":
		return 1, true
	}
	return 0, false
}

// checkLevel says what is wrong with a RAID level for n members, or "".
func checkLevel(level string, n int) string {
	lmin, ok := raidMin(level)
	switch {
	case !ok:
		return fmt.Sprintf("%q is not a RAID level (0, 1, 5, 6, 10 or jbod)", level)
	case n < lmin:
		return fmt.Sprintf("RAID-%s needs at least %d disks, this array has %d", level, lmin, n)
	case level == "10" && n%2 != 0:
		return fmt.Sprintf("RAID-10 needs an even number of disks, this array has %d", n)
	}
	return ""
}

// usableBytes is the capacity of an array of n disks of the smallest size.
func usableBytes(level string, n int, smallest, sum int64) int64 {
	switch level {
	case "0":
		return int64(n) * smallest
	case "1":
		return smallest
	case "5":
		return int64(n-1) * smallest
	case "6":
		return int64(n-2) * smallest
	case "10":
		return int64(n/2) * smallest
	}
	return sum
}

func (b *builder) hardwareModels() {
	for _, name := range sortedKeys(b.site.Hardware) {
		b.hardwareModel(name, b.site.Hardware[name])
	}
}

func (b *builder) hardwareModel(name string, hw *Hardware) {
	c := b.c
	path := "hardware." + name
	obj := "hardware " + name
	if hw.Model == "" {
		c.errorf(path, obj, "model", "missing")
	}
	if len(hw.NICs) == 0 {
		c.errorf(path, obj, "nic", "no NICs declared")
	}
	nics := map[string]bool{}
	for i, n := range hw.NICs {
		p := fmt.Sprintf("%s.nic[%d]", path, i)
		switch {
		case n.Name == "":
			c.errorf(p, obj, fmt.Sprintf("nic[%d].name", i), "missing")
		case nics[n.Name]:
			c.errorf(p+".name", obj, fmt.Sprintf("nic[%d].name", i), "NIC %s declared twice", n.Name)
		case n.RedfishID == "" && redfishID(n.Name) == "":
			c.errorf(p+".name", obj, fmt.Sprintf("nic[%d].name", i), "cannot derive the iDRAC id of NIC %q: name it emN or pSpP, or set redfish_id", n.Name)
		}
		nics[n.Name] = true
	}
	slots := map[int]int64{}
	for i, d := range hw.Disks {
		p := fmt.Sprintf("%s.disk[%d]", path, i)
		f := fmt.Sprintf("disk[%d]", i)
		if d.Slot < 0 || d.Count < 0 {
			c.errorf(p+".slot", obj, f+".slot", "slot and count cannot be negative")
			continue
		}
		sz, err := ParseSize(d.Size)
		if err != nil {
			c.errorf(p+".size", obj, f+".size", "%v", err)
		}
		for s := d.Slot; s < d.Slot+max(d.Count, 1); s++ {
			if _, dup := slots[s]; dup {
				c.errorf(p+".slot", obj, f+".slot", "slot %d declared twice", s)
			}
			slots[s] = sz
		}
		if !slices.Contains([]string{"ssd", "sas", "sata", "nvme"}, d.Kind) {
			c.errorf(p+".kind", obj, f+".kind", "%q is not a disk kind (ssd, sas, sata, nvme)", d.Kind)
		}
	}
	used := map[int]string{}
	osArrays := 0
	for i, a := range hw.Arrays {
		p := fmt.Sprintf("%s.array[%d]", path, i)
		f := fmt.Sprintf("array[%d]", i)
		if a.Name != "" {
			f = "array " + a.Name
		}
		if msg := checkLevel(a.Level, len(a.Members)); msg != "" {
			c.errorf(p+".level", obj, f+".level", "%s", msg)
		}
		for _, m := range a.Members {
			if _, ok := slots[m]; !ok {
				c.errorf(p+".members", obj, f+".members", "slot %d is not a declared disk", m)
			} else if prev, dup := used[m]; dup {
				c.errorf(p+".members", obj, f+".members", "disk in slot %d is already in array %s", m, prev)
			}
			used[m] = a.Name
		}
		switch a.Use {
		case UseOS:
			osArrays++
		case UseData, UseEphemeral:
			if a.Mount != "" && !strings.HasPrefix(a.Mount, "/") {
				c.errorf(p+".mount", obj, f+".mount", "%q is not an absolute path", a.Mount)
			}
		case UseLVM:
		case UseSwift:
			if a.Level != "jbod" {
				c.errorf(p+".level", obj, f+".level", "Swift disks are one file system each: level must be jbod, not %q", a.Level)
			}
		default:
			c.errorf(p+".use", obj, f+".use", "%q is not a use (os, data, ephemeral, lvm, swift)", a.Use)
		}
		if a.FS != "" && a.FS != "ext4" && a.FS != "xfs" {
			c.errorf(p+".fs", obj, f+".fs", "%q is not a file system CentOS 6.5 installs on (ext4, xfs)", a.FS)
		}
	}
	if len(hw.Arrays) > 0 && osArrays != 1 {
		c.errorf(path, obj, "array", "%d arrays have use = \"os\": exactly one must hold the OS", osArrays)
	}
	if len(hw.Arrays) == 0 {
		c.errorf(path, obj, "array", "no arrays: say which disks hold the OS")
	}
}

// hardwarePlan resolves a model for one node, with the node's MACs.
func (b *builder) hardwarePlan(name string, hw *Hardware, macs map[string]string) HardwarePlan {
	hp := HardwarePlan{Name: name, Model: hw.Model, CPU: hw.CPU, Memory: hw.Memory}
	for _, n := range hw.NICs {
		id := n.RedfishID
		if id == "" {
			id = redfishID(n.Name)
		}
		hp.NICs = append(hp.NICs, NIC{Name: n.Name, Speed: n.Speed, RedfishID: id, MAC: macs[n.Name]})
	}
	for _, d := range hw.Disks {
		sz, _ := ParseSize(d.Size)
		for s := d.Slot; s < d.Slot+max(d.Count, 1); s++ {
			hp.Disks = append(hp.Disks, Disk{Slot: s, Bytes: sz, Size: d.Size, Kind: d.Kind})
		}
	}
	return hp
}

// volumes lays out a model's arrays for a node whose RAID mode is mode.
func volumes(hw *Hardware, hp HardwarePlan, mode string) []Volume {
	size := map[int]int64{}
	for _, d := range hp.Disks {
		size[d.Slot] = d.Bytes
	}
	var out []Volume
	for _, a := range hw.Arrays {
		v := Volume{Name: a.Name, Level: a.Level, Members: slices.Clone(a.Members), Use: a.Use,
			Mount: a.Mount, FS: a.FS, VG: a.VG, Hardware: mode == "hardware" && a.Level != "jbod"}
		var smallest, sum int64
		for i, m := range a.Members {
			if i == 0 || size[m] < smallest {
				smallest = size[m]
			}
			sum += size[m]
		}
		v.Bytes = usableBytes(a.Level, len(a.Members), smallest, sum)
		switch a.Use {
		case UseOS:
			v.Mount = "/"
			if v.FS == "" {
				v.FS = "ext4"
			}
		case UseData:
			if v.Mount == "" {
				v.Mount = "/srv/data"
			}
			if v.FS == "" {
				v.FS = "ext4"
			}
		case UseEphemeral:
			if v.Mount == "" {
				v.Mount = "/var/lib/nova/instances"
			}
			if v.FS == "" {
				v.FS = "ext4"
			}
		case UseLVM:
			if v.VG == "" {
				v.VG = "cinder-volumes"
			}
			v.Mount, v.FS = "", ""
		case UseSwift:
			prefix := a.LabelPrefix
			if prefix == "" {
				prefix = "swift"
			}
			v.FS = "xfs"
			v.Mount = "/srv/node"
			for i := range a.Members {
				v.Labels = append(v.Labels, fmt.Sprintf("%s%02d", prefix, i+1))
			}
		}
		out = append(out, v)
	}
	return out
}

func (b *builder) roles() {
	for _, name := range sortedKeys(b.site.Roles) {
		b.role(name, b.site.Roles[name])
	}
}

func (b *builder) role(name string, r *Role) {
	c := b.c
	path := "role." + name
	obj := "role " + name
	hw, ok := b.site.Hardware[r.Hardware]
	// A role without hardware is an add-on (load balancing on the
	// controllers in staging): the node's other roles bring the hardware.
	if r.Hardware != "" && !ok {
		c.errorf(path+".hardware", obj, "hardware", "hardware model %q is not defined", r.Hardware)
	}
	nics := map[string]bool{}
	if hw != nil {
		for _, n := range hw.NICs {
			nics[n.Name] = true
		}
	}
	devices := map[string]bool{}
	slaveOf := map[string]string{}
	for i, bd := range r.Bonds {
		p := fmt.Sprintf("%s.bond[%d]", path, i)
		f := fmt.Sprintf("bond[%d]", i)
		if !strings.HasPrefix(bd.Name, "bond") {
			c.errorf(p+".name", obj, f+".name", "%q: EL6 bonds are named bondN", bd.Name)
		} else if devices[bd.Name] {
			c.errorf(p+".name", obj, f+".name", "bond %s defined twice", bd.Name)
		}
		devices[bd.Name] = true
		f = "bond " + bd.Name
		if len(bd.Slaves) < 1 {
			c.errorf(p+".slaves", obj, f+".slaves", "a bond needs slaves")
		}
		for _, s := range bd.Slaves {
			switch {
			case hw != nil && !nics[s]:
				c.errorf(p+".slaves", obj, f+".slaves", "%s is not a NIC of hardware %s", s, r.Hardware)
			case slaveOf[s] != "":
				c.errorf(p+".slaves", obj, f+".slaves", "%s is already a slave of %s", s, slaveOf[s])
			}
			slaveOf[s] = bd.Name
		}
		if bd.Mode != "" && !validBondMode(bd.Mode) {
			c.errorf(p+".mode", obj, f+".mode", "%q is not a Linux bonding mode", bd.Mode)
		}
	}
	untagged := map[string]string{}
	for i, a := range r.Interfaces {
		p := fmt.Sprintf("%s.iface[%d]", path, i)
		f := fmt.Sprintf("iface[%d]", i)
		isNIC := nics[a.Device]
		switch {
		case devices[a.Device]:
		case hw != nil && isNIC:
			if m := slaveOf[a.Device]; m != "" {
				c.errorf(p+".device", obj, f+".device", "%s is a slave of %s and cannot carry a network itself", a.Device, m)
			}
		case hw != nil:
			c.errorf(p+".device", obj, f+".device", "%q is neither a bond of this role nor a NIC of hardware %s", a.Device, r.Hardware)
		}
		if _, ok := b.plan.netBy[a.Network]; !ok {
			c.errorf(p+".network", obj, f+".network", "network %q is not defined", a.Network)
		}
		if !a.Tagged {
			if prev, dup := untagged[a.Device]; dup {
				c.errorf(p+".tagged", obj, f+".tagged", "%s already carries network %s untagged; only one network can be untagged on a device", a.Device, prev)
			}
			untagged[a.Device] = a.Network
		}
	}
	for _, s := range r.Services {
		if _, ok := b.catalog[s]; !ok {
			c.warnf(path+".services", obj, "services", "%q is not a service the profiles know; it will be listed but not installed", s)
		}
	}
}

func validBondMode(m string) bool {
	return slices.Contains([]string{"balance-rr", "active-backup", "balance-xor", "broadcast",
		"802.3ad", "balance-tlb", "balance-alb", "0", "1", "2", "3", "4", "5", "6"}, m)
}
