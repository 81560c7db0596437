package kickstart

// The commands and options of pykickstart 1.74.14's RHEL6 handler, which
// anaconda 13.21.215 (CentOS 6.5) parses kickstarts with. An option maps
// to true when it takes a value.

type cmdSpec struct {
	opts map[string]bool
	// minArgs and maxArgs bound the positional arguments (maxArgs -1: any).
	minArgs, maxArgs int
}

// Options shared by the storage commands that can encrypt (F9+).
func withCrypt(m map[string]bool) map[string]bool {
	for _, o := range []string{"--encrypted"} {
		m[o] = false
	}
	for _, o := range []string{"--passphrase", "--escrowcert", "--cipher"} {
		m[o] = true
	}
	m["--backuppassphrase"] = false
	return m
}

// flags makes an option map of options that take no value.
func flags(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = false
	}
	return m
}

// values adds options that take a value.
func values(m map[string]bool, names ...string) map[string]bool {
	for _, n := range names {
		m[n] = true
	}
	return m
}

// rhel6Commands is built per call: nothing package-level is mutable.
func rhel6Commands() map[string]cmdSpec {
	none := cmdSpec{opts: flags(), maxArgs: 0}
	auth := cmdSpec{opts: nil, maxArgs: -1} // authconfig's options are passed through raw
	c := map[string]cmdSpec{
		"auth":       auth,
		"authconfig": auth,
		"autopart":   {opts: withCrypt(flags()), maxArgs: 0},
		"autostep":   {opts: flags("--autoscreenshot"), maxArgs: 0},
		"bootloader": {opts: values(flags("--lba32", "--upgrade", "--iscrypted"),
			"--append", "--driveorder", "--location", "--password", "--md5pass", "--timeout", "--default"), maxArgs: 0},
		"cdrom":       none,
		"clearpart":   {opts: values(flags("--all", "--initlabel", "--linux", "--none"), "--drives", "--list"), maxArgs: 0},
		"cmdline":     none,
		"device":      {opts: values(flags(), "--opts"), minArgs: 1, maxArgs: 2},
		"deviceprobe": {opts: flags(), maxArgs: -1},
		"dmraid":      {opts: values(flags(), "--name", "--dev"), maxArgs: 0},
		"driverdisk":  {opts: values(flags(), "--source", "--biospart", "--type"), maxArgs: 1},
		"fcoe":        {opts: values(flags("--dcb"), "--nic"), maxArgs: 0},
		"firewall": {opts: values(flags("--enabled", "--enable", "--disabled", "--disable", "--ssh", "--smtp", "--http", "--ftp", "--telnet"),
			"--trust", "--port", "--service"), maxArgs: 0},
		"firstboot":   {opts: flags("--enable", "--enabled", "--disable", "--disabled", "--reconfig"), maxArgs: 0},
		"graphical":   none,
		"group":       {opts: values(flags(), "--name", "--gid"), maxArgs: 0},
		"halt":        none,
		"harddrive":   {opts: values(flags(), "--biospart", "--partition", "--dir"), maxArgs: 0},
		"ignoredisk":  {opts: values(flags("--interactive"), "--drives", "--only-use"), maxArgs: 0},
		"install":     {opts: values(flags(), "--root-device"), maxArgs: 0},
		"interactive": none,
		"iscsi":       {opts: values(flags(), "--target", "--ipaddr", "--port", "--user", "--password", "--reverse-user", "--reverse-password", "--iface"), maxArgs: 0},
		"iscsiname":   {opts: flags(), minArgs: 1, maxArgs: 1},
		"keyboard":    {opts: flags(), minArgs: 1, maxArgs: 1},
		"lang":        {opts: flags(), minArgs: 1, maxArgs: 1},
		"logging":     {opts: values(flags(), "--host", "--port", "--level"), maxArgs: 0},
		"logvol": {opts: withCrypt(values(flags("--grow", "--noformat", "--recommended", "--useexisting", "--hibernation", "--thinpool", "--thin"),
			"--fstype", "--maxsize", "--name", "--size", "--vgname", "--percent", "--fsoptions", "--fsprofile", "--bytes-per-inode",
			"--poolname", "--chunksize", "--metadatasize")), minArgs: 1, maxArgs: 1},
		"mediacheck": none,
		"monitor":    {opts: values(flags("--noprobe"), "--hsync", "--monitor", "--vsync"), maxArgs: 0},
		"multipath":  {opts: values(flags(), "--name", "--device", "--rule"), maxArgs: 0},
		"network": {opts: values(flags("--noipv4", "--noipv6", "--nodns", "--notksdevice", "--activate", "--nodefroute"),
			"--bootproto", "--dhcpclass", "--device", "--essid", "--ethtool", "--gateway", "--hostname", "--ip", "--ipv6",
			"--mtu", "--nameserver", "--netmask", "--onboot", "--wepkey", "--bondslaves", "--bondopts", "--vlanid",
			"--ipv6gateway"), maxArgs: 0},
		"nfs": {opts: values(flags(), "--server", "--dir", "--opts"), maxArgs: 0},
		"part": {opts: withCrypt(values(flags("--active", "--asprimary", "--grow", "--noformat", "--recommended", "--hibernation"),
			"--end", "--fstype", "--type", "--maxsize", "--onbiosdisk", "--ondisk", "--ondrive", "--onpart", "--usepart", "--size", "--start",
			"--fsoptions", "--fsprofile", "--label", "--bytes-per-inode")), minArgs: 1, maxArgs: 1},
		"poweroff": none,
		"raid": {opts: withCrypt(values(flags("--noformat", "--useexisting"),
			"--device", "--fstype", "--level", "--spares", "--fsoptions", "--fsprofile", "--bytes-per-inode")), minArgs: 1, maxArgs: -1},
		"reboot":               {opts: flags("--eject"), maxArgs: 0},
		"repo":                 {opts: values(flags("--noverifyssl"), "--name", "--baseurl", "--mirrorlist", "--cost", "--excludepkgs", "--includepkgs", "--proxy"), maxArgs: 0},
		"rescue":               {opts: flags("--nomount", "--romount"), maxArgs: 0},
		"rootpw":               {opts: flags("--iscrypted", "--plaintext", "--lock"), minArgs: 1, maxArgs: 1},
		"selinux":              {opts: flags("--disabled", "--enforcing", "--permissive"), maxArgs: 0},
		"services":             {opts: values(flags(), "--disabled", "--enabled"), maxArgs: 0},
		"shutdown":             none,
		"skipx":                none,
		"sshpw":                {opts: values(flags("--iscrypted", "--plaintext", "--lock"), "--username"), minArgs: 1, maxArgs: 1},
		"text":                 none,
		"timezone":             {opts: flags("--utc", "--isUtc"), minArgs: 1, maxArgs: 1},
		"unsupported_hardware": none,
		"updates":              {opts: flags(), maxArgs: 1},
		"upgrade":              {opts: values(flags(), "--root-device"), maxArgs: 0},
		"url":                  {opts: values(flags("--noverifyssl"), "--url", "--proxy"), maxArgs: 0},
		"user":                 {opts: values(flags("--iscrypted", "--plaintext", "--lock"), "--groups", "--homedir", "--name", "--password", "--shell", "--uid"), maxArgs: 0},
		"vnc":                  {opts: values(flags(), "--connect", "--password", "--host", "--port"), maxArgs: 0},
		"volgroup":             {opts: values(flags("--noformat", "--useexisting"), "--pesize"), minArgs: 2, maxArgs: -1},
		"xconfig":              {opts: values(flags("--startxonboot", "--noprobe"), "--defaultdesktop", "--depth", "--resolution", "--driver", "--videoram", "--card", "--hsync", "--vsync", "--monitor", "--server"), maxArgs: 0},
		"zerombr":              none,
		"zfcp":                 {opts: values(flags(), "--devnum", "--fcplun", "--wwpn", "--scsiid", "--scsilun"), maxArgs: 0},
	}
	c["partition"] = c["part"]
	return c
}

// laterCommands are commands a reader may expect but RHEL 6.5 lacks.
func laterCommands(cmd string) string {
	switch cmd {
	case "eula", "realm", "reqpart", "sshkey", "btrfs", "ostreesetup", "snapshot", "module", "mount", "timesource", "pwpolicy", "hmc", "liveimg", "nvdimm", "zipl":
		return "a RHEL 7 or later command"
	case "key":
		return "a RHEL 5 command (installation numbers are gone in RHEL 6)"
	case "langsupport", "mouse", "lilo", "lilocheck":
		return "removed before RHEL 6"
	}
	return ""
}

// laterOptions are options of later releases that people carry over.
func laterOptions(cmd, opt string) string {
	switch cmd + " " + opt {
	case "network --interfacename", "network --bridgeslaves", "network --bridgeopts", "network --teamslaves",
		"network --teamconfig", "bootloader --boot-drive", "autopart --type", "clearpart --disklabel",
		"raid --label", "logvol --label", "firewall --use-system-defaults", "timezone --ntpservers",
		"timezone --nontp", "bootloader --leavebootorder", "part --resize", "logvol --resize",
		"part --mkfsoptions", "raid --mkfsoptions", "logvol --mkfsoptions", "volgroup --reserved-space",
		"volgroup --reserved-percent", "network --wpakey":
		return "is RHEL 7 or later"
	case "bootloader --hvargs":
		return "is RHEL 5 only"
	case "bootloader --useLilo", "firewall --high", "firewall --medium":
		return "was removed before RHEL 6"
	case "network --domain":
		return "is RHEL 6.6 or later"
	}
	return ""
}

// sectionOpts are the options of each section RHEL 6.5 knows.
func sectionOpts(name string) (map[string]bool, bool) {
	switch name {
	case "%pre":
		return values(flags("--erroronfail"), "--interpreter", "--log", "--logfile"), true
	case "%post":
		return values(flags("--erroronfail", "--nochroot"), "--interpreter", "--log", "--logfile"), true
	case "%traceback":
		return values(flags("--erroronfail"), "--interpreter", "--log", "--logfile"), true
	case "%packages":
		return values(flags("--excludedocs", "--ignoremissing", "--nobase", "--default", "--resolvedeps", "--ignoredeps"),
			"--instLangs", "--multilib"), true
	}
	return nil, false
}
