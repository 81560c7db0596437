package provision

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExampleSitesCheckClean: both shipped sites have no errors and no
// warnings.
func TestExampleSitesCheckClean(t *testing.T) {
	for _, name := range []string{"paper", "staging"} {
		t.Run(name, func(t *testing.T) {
			_, probs := loadBuild(t, writeSite(t, name, exampleSite(t, name)))
			for _, p := range probs {
				t.Errorf("%v", p)
			}
		})
	}
}

// TestBrokenSites: each broken variant of the paper's site fails with a
// problem naming the right object and field, on a line of the file.
func TestBrokenSites(t *testing.T) {
	computeIfaces := "[[role.compute.iface]]\ndevice = \"bond2\"\nnetwork = \"tunnel\"\ntagged = true\n"
	tests := []struct {
		name   string
		edits  []edit
		object string
		field  string
		msg    string
		warn   bool // the problem is a warning, and the site has no errors
		noLine bool // the problem cannot name a line
	}{
		{name: "syntax error", edits: []edit{replace("x = 1\n", "x = = 1\n")},
			msg: "expected value"},
		{name: "wrong type", edits: []edit{inNode("compute05", `unit = "five"`)}, // also a duplicate key
			msg: "unit"},
		{name: "unknown key", edits: []edit{inNode("compute05", "hots = 44")},
			field: "node.hots", msg: "unknown key (did you mean \"host\"?)"},
		{name: "unknown table key", edits: []edit{inTable("[role.compute]", `service = ["nova-compute"]`)},
			field: "role.compute.service", msg: "unknown key"},
		{name: "duplicate hostname", edits: []edit{replace("name = \"compute06\"\n", "name = \"compute05\"\n")},
			object: "node compute05", field: "name", msg: "used twice"},
		{name: "duplicate MAC", edits: []edit{
			inNode("compute05", `macs = { em1 = "52:54:00:aa:bb:01" }`),
			inNode("compute06", `macs = { em1 = "52-54-00-AA-BB-01" }`)},
			object: "node compute06", field: "macs.em1", msg: "MAC 52:54:00:aa:bb:01 is already compute05 em1"},
		{name: "bad MAC", edits: []edit{inNode("compute05", `macs = { em1 = "52:54:00:zz:bb:01" }`)},
			object: "node compute05", field: "macs.em1", msg: "not an Ethernet MAC"},
		{name: "MAC of a NIC the hardware lacks", edits: []edit{inNode("compute05", `macs = { p9p9 = "52:54:00:aa:bb:01" }`)},
			object: "node compute05", field: "macs.p9p9", msg: "not a NIC of hardware r620-compute"},
		{name: "duplicate address", edits: []edit{replace("unit = 6\nhost = 45\n", "unit = 6\nhost = 44\n")},
			object: "node compute06", field: "host", msg: "address 10.3.1.44 is already compute05 on network mgmt"},
		{name: "duplicate iDRAC address", edits: []edit{inNode("compute06", `idrac = "10.0.x.44"`)},
			object: "node compute06", field: "idrac", msg: "already the iDRAC of compute05"},
		{name: "iDRAC on a switch", edits: []edit{inNode("compute06", `idrac = "10.0.x.2"`)},
			object: "node compute06", field: "idrac", msg: "already switch s4810p-1"},
		{name: "address outside its subnet", edits: []edit{inNode("compute05", `addresses = { mgmt = "10.9.1.44" }`)},
			object: "node compute05", field: "addresses.mgmt", msg: "outside network mgmt (10.3.1.0/24)"},
		{name: "address on the gateway", edits: []edit{inNode("compute05", `addresses = { mgmt = "10.3.x.10" }`)},
			object: "node compute05", field: "addresses.mgmt", msg: "is the gateway of network mgmt"},
		{name: "address on a VIP", edits: []edit{inNode("compute05", `addresses = { tunnel = "10.4.x.44", mgmt = "10.3.x.100" }`)},
			object: "node compute05", field: "addresses.mgmt", msg: "already VIP internal"},
		{name: "broadcast address", edits: []edit{inNode("compute05", `addresses = { mgmt = "10.3.x.255" }`)},
			object: "node compute05", field: "addresses.mgmt", msg: "broadcast"},
		{name: "host number beyond the subnet", edits: []edit{replace("unit = 6\nhost = 45\n", "unit = 6\nhost = 300\n")},
			object: "node compute06", field: "host", msg: "host number 300 is outside 10.3.1.0/24"},
		{name: "bond slave not a NIC", edits: []edit{replace("slaves = [\"p1p1\", \"p2p1\"]\n[[role.compute.bond]]", "slaves = [\"p1p1\", \"p3p1\"]\n[[role.compute.bond]]")},
			object: "role compute", field: "bond bond2.slaves", msg: "p3p1 is not a NIC of hardware r620-compute"},
		{name: "bond slave used twice", edits: []edit{replace("slaves = [\"p1p2\", \"p2p2\"]\n[[role.compute.iface]]", "slaves = [\"p1p2\", \"p1p1\"]\n[[role.compute.iface]]")},
			object: "role compute", field: "bond bond3.slaves", msg: "p1p1 is already a slave of bond2"},
		{name: "VLAN used but not defined", edits: []edit{replace(computeIfaces, strings.Replace(computeIfaces, "tunnel", "vxlan", 1))},
			object: "role compute", field: "iface[1].network", msg: `network "vxlan" is not defined`},
		{name: "RAID-6 on two SSDs (the paper's compute nodes)", edits: []edit{replace("name = \"ephemeral\"\nlevel = \"1\"", "name = \"ephemeral\"\nlevel = \"6\"")},
			object: "hardware r620-compute", field: "array ephemeral.level", msg: "RAID-6 needs at least 4 disks, this array has 2"},
		{name: "RAID-1 on one disk", edits: []edit{replace("name = \"ephemeral\"\nlevel = \"1\"\nmembers = [2, 3]", "name = \"ephemeral\"\nlevel = \"1\"\nmembers = [2]")},
			object: "hardware r620-compute", field: "array ephemeral.level", msg: "RAID-1 needs at least 2 disks"},
		{name: "RAID-10 on an odd count", edits: []edit{replace("name = \"cinder\"\nlevel = \"6\"\nmembers = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]",
			"name = \"cinder\"\nlevel = \"10\"\nmembers = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]")},
			object: "hardware r720xd-block", field: "array cinder.level", msg: "RAID-10 needs an even number of disks, this array has 15"},
		{name: "unknown RAID level", edits: []edit{replace("name = \"ephemeral\"\nlevel = \"1\"", "name = \"ephemeral\"\nlevel = \"7\"")},
			object: "hardware r620-compute", field: "array ephemeral.level", msg: `"7" is not a RAID level`},
		{name: "disk in two arrays", edits: []edit{replace("name = \"ephemeral\"\nlevel = \"1\"\nmembers = [2, 3]", "name = \"ephemeral\"\nlevel = \"1\"\nmembers = [1, 3]")},
			object: "hardware r620-compute", field: "array ephemeral.members", msg: "slot 1 is already in array os"},
		{name: "Swift storage without the replication VLAN", edits: []edit{replace("[[role.swiftstorage.iface]]\ndevice = \"bond3\"\nnetwork = \"swiftrepl\"\ntagged = true\n", "")},
			object: "node swiftstorage01", field: "role swiftstorage", msg: "service swift-account needs a swift-replication network"},
		{name: "compute without the tunnel VLAN", edits: []edit{replace(computeIfaces, "")},
			object: "node compute01", field: "role compute", msg: "service nova-compute needs a tunnel network"},
		{name: "even number of Galera controllers", edits: []edit{replace("[[node]]\nname = \"controller03\"\nroles = [\"controller\"]", "[[node]]\nname = \"controller03\"\nroles = [\"network\"]")},
			object: "site", field: "services", msg: "galera runs on 2 nodes (controller01, controller02)", warn: true},
		{name: "VIP backends off the VIP's network", edits: []edit{replace("backend_network = \"mgmt\"\n", "")},
			object: "vip public", field: "backends", msg: "controller01 is not on network internet"},
		{name: "VIP outside its network", edits: []edit{replace("address = \"10.3.x.200\"", "address = \"10.4.x.200\"")},
			object: "vip swift", field: "address", msg: "outside network mgmt"},
		{name: "missing secrets file", edits: []edit{replace(`secrets = "paper.secrets.toml"`, `secrets = "nowhere.toml"`)},
			object: "site", field: "secrets", msg: "no such file or directory"},
		{name: "bad network CIDR", edits: []edit{replace(`cidr = "10.4.x.0/24"`, `cidr = "10.4.x.0/33"`)},
			object: "network tunnel", field: "cidr", msg: "not a network in CIDR form"},
		{name: "VLAN id used twice", edits: []edit{replace("vlan = 104", "vlan = 103")},
			object: "network tunnel", field: "vlan", msg: "VLAN 103 is also network mgmt"},
		{name: "undefined role", edits: []edit{replace("name = \"compute05\"\nroles = [\"compute\"]", "name = \"compute05\"\nroles = [\"computer\"]")},
			object: "node compute05", field: "roles", msg: `role "computer" is not defined`},
		{name: "undefined hardware", edits: []edit{replace(`hardware = "r620-compute"`, `hardware = "r630-compute"`)},
			object: "role compute", field: "hardware", msg: `hardware model "r630-compute" is not defined`},
		{name: "PXE NIC off the management network", edits: []edit{inNode("loadbalance01", `pxe_nic = "em3"`)},
			object: "node loadbalance01", field: "pxe_nic", msg: "em3 (from node loadbalance01"},
		{name: "management VLAN tagged", edits: []edit{replace("[[role.controller.iface]]\ndevice = \"bond0\"\nnetwork = \"mgmt\"\n", "[[role.controller.iface]]\ndevice = \"bond0\"\nnetwork = \"mgmt\"\ntagged = true\n")},
			object: "node controller01", field: "iface bond0", msg: "PXE firmware sends untagged frames"},
		{name: "invalid boot mode", edits: []edit{inNode("compute05", `boot_mode = "legacy"`)},
			object: "node compute05", field: "boot_mode", msg: `"legacy" (from node compute05`},
		{name: "pxelinux on UEFI", edits: []edit{inNode("compute05", "boot_mode = \"uefi\"\nloader = \"pxelinux\"")},
			object: "node compute05", field: "loader", msg: "pxelinux boots BIOS firmware only"},
		{name: "appliance not a node", edits: []edit{replace(`appliance = "admin01"`, `appliance = "admin09"`)},
			object: "site", field: "appliance", msg: `node "admin09" is not defined`},
		{name: "Swift disks in RAID", edits: []edit{replace("name = \"swift\"\nlevel = \"jbod\"", "name = \"swift\"\nlevel = \"6\"")},
			object: "hardware r720xd-swift", field: "array swift.level", msg: "level must be jbod"},
		{name: "bad disk size", edits: []edit{replace("size = \"240GB\"\nkind = \"ssd\"\n[[hardware.r620-controller.array]]", "size = \"240 floppies\"\nkind = \"ssd\"\n[[hardware.r620-controller.array]]")},
			object: "hardware r620-controller", field: "disk[1].size", msg: "not a disk size"},
		{name: "unknown VIP service", edits: []edit{replace(`"galera", "rabbitmq-server"]`, `"galera", "rabbitmq"]`)},
			object: "vip internal", field: "services", msg: `unknown VIP service "rabbitmq"`},
		{name: "VIP backend without the service", edits: []edit{replace(`services = ["swift-proxy"]`, `services = ["swift-proxy", "keystone"]`)},
			object: "vip swift", field: "backends", msg: "swiftproxy01 does not run keystone"},
		{name: "address for a network the node is not on", edits: []edit{inNode("compute05", `addresses = { swift = "10.6.x.44" }`)},
			object: "node compute05", field: "addresses.swift", msg: "no interface on network swift"},
		{name: "address for an undefined network", edits: []edit{inNode("compute05", `addresses = { mgtm = "10.3.x.44" }`)},
			object: "node compute05", field: "addresses.mgtm", msg: `network "mgtm" is not defined`},
		{name: "switch on a gateway", edits: []edit{replace(`address = "10.0.x.2"`, `address = "10.0.x.1"`)},
			object: "switch s4810p-1", field: "address", msg: "gateway of network idrac"},
		{name: "bad default said once", edits: []edit{replace(`selinux = "permissive"`, `selinux = "permisive"`)},
			object: "site [defaults]", field: "selinux", msg: `"permisive"`},
		{name: "bond carrying no network", edits: []edit{appendText("[[role.compute.bond]]\nname = \"bond9\"\nslaves = [\"em3\", \"em4\"]")},
			object: "node compute01", field: "bond bond9", msg: "carries no network", warn: true},
		{name: "bad time zone", edits: []edit{replace(`timezone = "Asia/Shanghai"`, `timezone = "China Standard Time"`)},
			object: "site", field: "timezone", msg: "not a time zone name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text := exampleSite(t, "paper")
			for _, e := range tc.edits {
				text = e(t, text)
			}
			_, probs := loadBuild(t, writeSite(t, "paper", text))
			if tc.warn && len(probs.Errors()) > 0 {
				t.Errorf("want only warnings, got errors:\n%v", probs.Err())
			}
			if !tc.warn && len(probs.Errors()) == 0 {
				t.Fatalf("no errors; want %s: %s: %s", tc.object, tc.field, tc.msg)
			}
			for _, p := range probs {
				if p.Object == tc.object && (tc.field == "" || p.Field == tc.field) && strings.Contains(p.Msg, tc.msg) &&
					(p.Severity == SevWarning) == tc.warn {
					if p.Line == 0 && !tc.noLine {
						t.Errorf("problem names no line: %v", p)
					}
					if !strings.HasSuffix(p.File, "paper.toml") {
						t.Errorf("problem names file %q, want the site file", p.File)
					}
					return
				}
			}
			t.Errorf("no problem %q: %q: %q among:", tc.object, tc.field, tc.msg)
			for _, p := range probs {
				t.Errorf("  %v [object %q field %q]", p, p.Object, p.Field)
			}
		})
	}
}

func TestSecretsFileMode(t *testing.T) {
	path := writeSite(t, "paper", exampleSite(t, "paper"))
	sec := filepath.Join(filepath.Dir(path), "paper.secrets.toml")
	if err := os.Chmod(sec, 0o644); err != nil {
		t.Fatal(err)
	}
	_, probs := loadBuild(t, path)
	err := probs.Err()
	if err == nil || !strings.Contains(err.Error(), "readable by group or others") || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable secrets: err = %v", err)
	}
}

// TestLineNumbers: a problem's line is the line of the key it is about.
func TestLineNumbers(t *testing.T) {
	text := exampleSite(t, "paper")
	text = inNode("compute07", `idrac = "10.0.x.44"`)(t, text)
	_, probs := loadBuild(t, writeSite(t, "paper", text))
	want := 0
	for i, l := range strings.Split(text, "\n") {
		if l == `idrac = "10.0.x.44"` {
			want = i + 1
		}
	}
	for _, p := range probs {
		if p.Object == "node compute07" && p.Field == "idrac" {
			if p.Line != want {
				t.Errorf("line = %d, want %d (%v)", p.Line, want, p)
			}
			return
		}
	}
	t.Fatalf("no idrac problem for compute07: %v", probs)
}
