package kickstart

import (
	"path"
	"strconv"
	"strings"
)

// raidMinMembers is the fewest active members an md level takes
// (anaconda 13's mdraid module, as mdadm), 0 for an unknown level.
func raidMinMembers(level string) int {
	switch level {
	case "0", "1":
		return 2
	case "4", "5":
		return 3
	case "6", "10":
		return 4
	}
	return 0
}

// raidLevel normalises a --level value (1, RAID1, raid1) to its number,
// or returns "" for a level RHEL 6 does not know.
func raidLevel(v string) string {
	n := strings.TrimPrefix(strings.ToUpper(v), "RAID")
	if raidMinMembers(n) > 0 {
		return n
	}
	return ""
}

// isMDDevice accepts what pykickstart's RHEL6 raid takes for --device:
// mdN or N (it strips "md" and reads an integer).
func isMDDevice(v string) bool {
	v = strings.TrimPrefix(v, "md")
	_, err := strconv.ParseUint(v, 10, 16)
	return err == nil && v != "" && v[0] != '+'
}

// storage is what the partitioning commands of one kickstart define.
type storage struct {
	members  map[string]int // raid.ID -> line of its part
	pvs      map[string]int // pv.ID -> line of its part or raid
	usedBy   map[string]int // raid.ID or pv.ID -> line that used it
	vgs      map[string]int // volume group -> line
	mounts   map[string]int // mount point -> line
	disks    []diskRef      // every disk named by part, bootloader, clearpart
	onlyUse  []string
	ignored  []string
	hasAuto  bool
	partCmds []command
}

type diskRef struct {
	line int
	what string // "part --ondisk", ...
	disk string
}

// checkStorage checks that partitioning commands fit together: raid
// members and physical volumes defined before use and used once, RAID
// levels possible for their member count, /boot readable by legacy GRUB,
// mount points unique, logical volumes in defined groups, every disk
// named within ignoredisk --only-use, and autopart alone.
func (l *linter) checkStorage() {
	s := &storage{members: map[string]int{}, pvs: map[string]int{}, usedBy: map[string]int{},
		vgs: map[string]int{}, mounts: map[string]int{}}
	for _, c := range l.parsed {
		switch c.name {
		case "autopart":
			s.hasAuto = true
		case "ignoredisk":
			l.ignoredisk(c, s)
		case "part", "partition", "raid", "volgroup", "logvol":
			s.partCmds = append(s.partCmds, c)
		case "bootloader":
			s.addDisks(c, "bootloader --driveorder", c.opts["--driveorder"])
		case "clearpart":
			s.addDisks(c, "clearpart --drives", c.opts["--drives"])
		}
	}
	for _, c := range s.partCmds {
		if s.hasAuto {
			l.addf(c.line, "%s cannot be used together with autopart", c.name)
		}
		switch c.name {
		case "part", "partition":
			l.part(c, s)
		case "raid":
			l.raid(c, s)
		case "volgroup":
			l.volgroup(c, s)
		case "logvol":
			l.logvol(c, s)
		}
	}
	for id, line := range s.members {
		if _, ok := s.usedBy[id]; !ok {
			l.addf(line, "%s is a member of no raid command", id)
		}
	}
	for id, line := range s.pvs {
		if _, ok := s.usedBy[id]; !ok {
			l.addf(line, "physical volume %s is in no volgroup", id)
		}
	}
	l.checkDisks(s)
}

func (s *storage) addDisks(c command, what, csv string) {
	for _, d := range strings.Split(csv, ",") {
		if d = strings.TrimSpace(d); d != "" {
			s.disks = append(s.disks, diskRef{line: c.line, what: what, disk: d})
		}
	}
}

func (l *linter) ignoredisk(c command, s *storage) {
	n := 0
	for _, o := range []string{"--drives", "--only-use", "--interactive"} {
		if _, ok := c.opts[o]; ok {
			n++
		}
	}
	if n != 1 {
		l.addf(c.line, "ignoredisk takes exactly one of --drives, --only-use and --interactive")
	}
	for _, d := range strings.Split(c.opts["--only-use"], ",") {
		if d = strings.TrimSpace(d); d != "" {
			s.onlyUse = append(s.onlyUse, d)
		}
	}
	for _, d := range strings.Split(c.opts["--drives"], ",") {
		if d = strings.TrimSpace(d); d != "" {
			s.ignored = append(s.ignored, d)
		}
	}
}

// mount records a mount point, reporting a second use of it.
func (l *linter) mount(line int, mp string, s *storage) {
	if mp == "swap" || mp == "none" || strings.HasPrefix(mp, "raid.") || strings.HasPrefix(mp, "pv.") {
		return
	}
	if !strings.HasPrefix(mp, "/") {
		l.addf(line, "%q is not a mount point (/path), swap, raid.ID or pv.ID", mp)
		return
	}
	if first, dup := s.mounts[mp]; dup {
		l.addf(line, "mount point %s is already used at line %d", mp, first)
		return
	}
	s.mounts[mp] = line
}

func (l *linter) part(c command, s *storage) {
	if len(c.args) != 1 {
		return // reported by command
	}
	mp := c.args[0]
	switch {
	case strings.HasPrefix(mp, "raid."):
		if first, dup := s.members[mp]; dup {
			l.addf(c.line, "raid member %s is already defined at line %d", mp, first)
		}
		s.members[mp] = c.line
	case strings.HasPrefix(mp, "pv."):
		l.definePV(c.line, mp, s)
	default:
		l.mount(c.line, mp, s)
	}
	for _, o := range []string{"--ondisk", "--ondrive"} {
		if d, ok := c.opts[o]; ok {
			s.addDisks(c, "part "+o, d)
		}
	}
	if _, ok := c.opts["--size"]; !ok && !hasAny(c.opts, "--onpart", "--usepart", "--recommended", "--hibernation") {
		l.addf(c.line, "part %s needs --size (or --onpart or --recommended)", mp)
	}
	l.intOpts(c, "--size", "--maxsize")
}

func (l *linter) definePV(line int, id string, s *storage) {
	if first, dup := s.pvs[id]; dup {
		l.addf(line, "physical volume %s is already defined at line %d", id, first)
	}
	s.pvs[id] = line
}

func (l *linter) raid(c command, s *storage) {
	dev, ok := c.opts["--device"]
	switch {
	case !ok:
		l.addf(c.line, "raid needs --device=mdN")
	case !isMDDevice(dev):
		l.addf(c.line, "raid --device=%s: RHEL 6.5 takes mdN (a name is an error)", dev)
	}
	if len(c.args) == 0 {
		return // reported by command
	}
	mp, members := c.args[0], c.args[1:]
	existing := hasAny(c.opts, "--useexisting", "--noformat")
	lv, hasLevel := c.opts["--level"]
	level := raidLevel(lv)
	switch {
	case hasLevel && level == "":
		l.addf(c.line, "raid --level=%s is not a RHEL 6 level (0, 1, 4, 5, 6 or 10)", lv)
	case !hasLevel && !existing:
		l.addf(c.line, "raid %s needs --level", mp)
	}
	if existing && len(members) > 0 {
		l.addf(c.line, "raid %s: members may not be given for an existing array", mp)
	}
	if !existing && len(members) == 0 {
		l.addf(c.line, "raid %s needs member partitions", mp)
	}
	spares, _ := strconv.Atoi(c.opts["--spares"])
	if min := raidMinMembers(level); level != "" && len(members) > 0 && len(members)-spares < min {
		l.addf(c.line, "RAID-%s needs at least %d active members, raid %s has %d", level, min, mp, len(members)-spares)
	}
	if mp == "/boot" && level != "" && level != "1" {
		l.addf(c.line, "/boot on RAID-%s: EL6's GRUB reads /boot only from a plain partition or RAID-1", level)
	}
	for _, m := range members {
		if _, ok := s.members[m]; !ok {
			l.addf(c.line, "raid member %s is not defined by an earlier part %s", m, m)
		}
		if first, dup := s.usedBy[m]; dup {
			l.addf(c.line, "raid member %s is already used at line %d", m, first)
		}
		s.usedBy[m] = c.line
	}
	if strings.HasPrefix(mp, "pv.") {
		l.definePV(c.line, mp, s)
	} else {
		l.mount(c.line, mp, s)
	}
}

func (l *linter) volgroup(c command, s *storage) {
	if len(c.args) == 0 {
		return
	}
	name := c.args[0]
	if first, dup := s.vgs[name]; dup {
		l.addf(c.line, "volume group %s is already defined at line %d", name, first)
	}
	s.vgs[name] = c.line
	if len(c.args) == 1 && !hasAny(c.opts, "--useexisting", "--noformat") {
		l.addf(c.line, "volgroup %s needs physical volumes", name)
	}
	for _, pv := range c.args[1:] {
		if _, ok := s.pvs[pv]; !ok {
			l.addf(c.line, "physical volume %s is not defined by an earlier part or raid", pv)
		}
		if first, dup := s.usedBy[pv]; dup {
			l.addf(c.line, "physical volume %s is already used at line %d", pv, first)
		}
		s.usedBy[pv] = c.line
	}
}

func (l *linter) logvol(c command, s *storage) {
	if vg, ok := c.opts["--vgname"]; ok {
		if _, def := s.vgs[vg]; !def {
			l.addf(c.line, "logvol --vgname=%s: no earlier volgroup %s", vg, vg)
		}
		if name, ok := c.opts["--name"]; ok {
			key := "lv:" + vg + "/" + name
			if first, dup := s.usedBy[key]; dup {
				l.addf(c.line, "logical volume %s/%s is already defined at line %d", vg, name, first)
			}
			s.usedBy[key] = c.line
		}
	}
	if len(c.args) == 1 {
		l.mount(c.line, c.args[0], s)
	}
	l.intOpts(c, "--size", "--maxsize", "--percent")
}

// intOpts reports options whose value must be a whole number.
func (l *linter) intOpts(c command, names ...string) {
	for _, o := range names {
		if v, ok := c.opts[o]; ok {
			if _, err := strconv.Atoi(v); err != nil {
				l.addf(c.line, "%s %s=%s is not a whole number (MiB, no unit)", c.name, o, v)
			}
		}
	}
}

// checkDisks reports disks named outside ignoredisk --only-use, or in
// ignoredisk --drives. Names may be globs or /dev/disk/by-* paths, as RHEL 6
// allows; a name is within a list when it equals or matches an entry.
func (l *linter) checkDisks(s *storage) {
	for _, d := range s.disks {
		name := strings.TrimPrefix(d.disk, "/dev/")
		if len(s.onlyUse) > 0 && !diskIn(name, s.onlyUse) {
			l.addf(d.line, "%s names disk %s, which ignoredisk --only-use leaves out", d.what, d.disk)
		}
		if diskIn(name, s.ignored) {
			l.addf(d.line, "%s names disk %s, which ignoredisk --drives ignores", d.what, d.disk)
		}
	}
}

func diskIn(name string, list []string) bool {
	for _, e := range list {
		e = strings.TrimPrefix(e, "/dev/")
		if e == name {
			return true
		}
		if ok, err := path.Match(e, name); err == nil && ok {
			return true
		}
	}
	return false
}

func hasAny(opts map[string]string, names ...string) bool {
	for _, n := range names {
		if _, ok := opts[n]; ok {
			return true
		}
	}
	return false
}
