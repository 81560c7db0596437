package kickstart

import (
	"net/netip"
	"strings"
)

// checkRequired reports what an unattended RHEL 6.5 install cannot do
// without (anaconda stops and asks for each), and single commands given
// twice, of which the installer silently keeps the last.
func (l *linter) checkRequired() {
	seen := map[string]int{}
	for _, c := range l.parsed {
		name := canonical(c.name)
		if first, dup := seen[name]; dup && !multiCommand(name) {
			l.addf(c.line, "%s is already given at line %d; the installer keeps only the last", c.name, first)
		}
		if _, dup := seen[name]; !dup {
			seen[name] = c.line
		}
	}
	has := func(names ...string) bool {
		for _, n := range names {
			if _, ok := seen[n]; ok {
				return true
			}
		}
		return false
	}
	if has("upgrade") {
		return
	}
	missing := func(what, why string) {
		l.addf(1, "no %s command: %s", what, why)
	}
	for _, c := range []string{"lang", "keyboard", "timezone", "rootpw", "authconfig", "bootloader"} {
		if !has(c) {
			missing(c, "the installer would stop and ask")
		}
	}
	if !has("url", "nfs", "cdrom", "harddrive") {
		missing("url, nfs, cdrom or harddrive", "no installation source, the installer would stop and ask")
	}
	if !has("part", "autopart", "raid", "logvol") {
		missing("part or autopart", "no partitioning, the installer would stop and ask")
	}
	if has("url", "nfs") && !has("network") {
		missing("network", "the installation source is on the network and RHEL 6 no longer assumes DHCP")
	}
}

// canonical folds the aliases pykickstart maps to one handler.
func canonical(name string) string {
	switch name {
	case "auth":
		return "authconfig"
	case "partition":
		return "part"
	case "halt", "poweroff", "shutdown":
		return "reboot"
	case "text", "cmdline", "graphical":
		return "displaymode"
	}
	return name
}

// multiCommand reports the commands that may be given more than once.
func multiCommand(name string) bool {
	switch name {
	case "network", "part", "raid", "volgroup", "logvol", "repo", "user", "group", "device", "driverdisk",
		"iscsi", "zfcp", "fcoe", "multipath", "dmraid", "sshpw":
		return true
	}
	return false
}

// checkNetwork checks the values of one network command.
func (l *linter) checkNetwork(c command) {
	for _, o := range []string{"--ip", "--gateway", "--netmask"} {
		if v, ok := c.opts[o]; ok {
			if a, err := netip.ParseAddr(v); err != nil || !a.Is4() {
				l.addf(c.line, "network %s=%s is not an IPv4 address", o, v)
			}
		}
	}
	for _, v := range strings.Split(c.opts["--nameserver"], ",") {
		if v = strings.TrimSpace(v); v != "" {
			if _, err := netip.ParseAddr(v); err != nil {
				l.addf(c.line, "network --nameserver %s is not an IP address", v)
			}
		}
	}
	if v, ok := c.opts["--onboot"]; ok {
		switch strings.ToLower(v) {
		case "yes", "no", "on", "off", "true", "false", "1", "0":
		default:
			l.addf(c.line, "network --onboot=%s is not a boolean (yes or no)", v)
		}
	}
	if _, ok := c.opts["--vlanid"]; ok {
		if v := c.opts["--vlanid"]; !isVLANID(v) {
			l.addf(c.line, "network --vlanid=%s is not a VLAN id (1-4094)", v)
		}
	}
	if hasAny(c.opts, "--bondslaves") && hasAny(c.opts, "--vlanid") {
		l.addf(c.line, "network --bondslaves with --vlanid: anaconda 6.5 then writes the VLAN's ifcfg file but not the bond's; give the bond its own line or write both in %%post")
	}
	if _, ok := c.opts["--bondopts"]; ok && !hasAny(c.opts, "--bondslaves") {
		l.addf(c.line, "network --bondopts without --bondslaves")
	}
}

func isVLANID(v string) bool {
	n := 0
	for _, r := range v {
		if r < '0' || r > '9' || n > 4094 {
			return false
		}
		n = n*10 + int(r-'0')
	}
	return v != "" && n >= 1 && n <= 4094
}
