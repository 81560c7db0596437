package kickstart

import (
	"slices"

	"github.com/provision/provision/provision"
)

// corePackages are on every node: what %post and the SSH handoff use, and
// what the network and disk layouts need at first boot.
func corePackages() []string {
	return []string{
		"@core", "openssh-server", "openssh-clients", "ntp", "ntpdate", "curl", "rsync",
		"mdadm", "lvm2", "bridge-utils", "vconfig", "ethtool", "tcpdump", "yum-utils",
	}
}

// rolePackages are what each role's profile needs before it can run: the
// profile installs the rest from its own repositories.
func rolePackages(role string) []string {
	switch role {
	case "loadbalancer":
		return []string{"haproxy", "keepalived"}
	case "blockstorage":
		return []string{"scsi-target-utils"}
	case "compute":
		return []string{"iscsi-initiator-utils"}
	case "swiftstorage":
		return []string{"xfsprogs", "xinetd"}
	case "swiftproxy":
		return []string{"memcached"}
	case "controller":
		return []string{"memcached"}
	}
	return nil
}

// packages lists the node's %packages: core, its roles', what its disks
// need and the site's extra packages, each once, in that order.
func packages(node *provision.NodePlan, l layout) []string {
	out := corePackages()
	add := func(ps ...string) {
		for _, p := range ps {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	for _, r := range node.Roles {
		add(rolePackages(r)...)
	}
	for _, v := range node.Storage {
		if v.FS == "xfs" {
			add("xfsprogs")
		}
	}
	if len(l.Swift) > 0 {
		add("xfsprogs")
	}
	add(node.Packages...)
	return out
}

// services enabled at first boot. The plan's services (nova-compute, ...)
// are installed later by the role profile and are not named here.
func services(l layout) []string {
	s := []string{"network", "sshd", "ntpd", "ntpdate"}
	if l.SoftRAID {
		s = append(s, "mdmonitor")
	}
	return s
}
