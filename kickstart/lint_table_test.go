package kickstart

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// lintBase is a complete kickstart without partitioning: 13 lines, so a
// case's body starts at line 14.
const lintBase = `install
url --url=http://10.3.1.10/images/centos-6.5
text
lang en_US.UTF-8
keyboard us
timezone --utc Etc/UTC
rootpw --iscrypted $6$salt$hash
authconfig --enableshadow --passalgo=sha512
network --device=bootif --bootproto=static --ip=10.3.1.40 --netmask=255.255.255.0 --gateway=10.3.1.1 --nameserver=10.3.1.10 --onboot=yes
zerombr
clearpart --all --initlabel --drives=sda,sdb
ignoredisk --only-use=sda,sdb
bootloader --location=mbr --driveorder=sda,sdb
`

// lintDisks is a valid RAID-1 layout (lines 14-21 after lintBase).
const lintDisks = `part raid.01 --size=500 --ondisk=sda --asprimary
part raid.02 --size=500 --ondisk=sdb --asprimary
part raid.03 --size=1 --grow --ondisk=sda
part raid.04 --size=1 --grow --ondisk=sdb
raid /boot --level=1 --device=md0 --fstype=ext4 raid.01 raid.02
raid pv.01 --level=1 --device=md1 raid.03 raid.04
volgroup vg0 pv.01
logvol / --vgname=vg0 --name=root --size=1 --grow --fstype=ext4
`

// TestLintRules has a failing and a passing example of each rule. Bodies
// follow lintBase (line 14 on) unless whole is set.
func TestLintRules(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		whole bool // body is the whole file
		want  []string
	}{
		{name: "base/pass", body: lintDisks},
		{name: "later-option/fail", body: lintDisks + "network --device=em1 --interfacename=bond0 --bootproto=dhcp\n",
			want: []string{"t.ks:22: network --interfacename is RHEL 7 or later, not RHEL 6.5"}},
		{name: "later-option/pass", body: lintDisks + "network --device=bond0 --bondslaves=em1,em2 --bondopts=mode=802.3ad --bootproto=dhcp --ipv6gateway=fe80::1\n" +
			"network --device=em3 --vlanid=103 --bootproto=dhcp\n"},
		{name: "bond-with-vlan/fail", body: lintDisks + "network --device=bond0 --bondslaves=em1,em2 --vlanid=103 --bootproto=dhcp --activate\n",
			want: []string{"t.ks:22: network --bondslaves with --vlanid: anaconda 6.5 then writes the VLAN's ifcfg file but not the bond's; give the bond its own line or write both in %post"}},
		{name: "domain-6.6/fail", body: lintDisks + "network --device=em2 --bootproto=dhcp --domain=example.com\n",
			want: []string{"t.ks:22: network --domain is RHEL 6.6 or later, not RHEL 6.5"}},
		{name: "bootproto-none/fail", body: lintDisks + "network --device=em2 --bootproto=none\n",
			want: []string{"t.ks:22: network --bootproto=none is not valid in RHEL 6 (dhcp, bootp, static, query or ibft)"}},
		{name: "static-needs-ip/fail", body: lintDisks + "network --device=em2 --bootproto=static --netmask=255.255.255.0\n",
			want: []string{"t.ks:22: network --bootproto=static needs --ip"}},
		{name: "zerombr-arg/fail", body: lintDisks + "zerombr yes\n",
			want: []string{"t.ks:22: zerombr takes no argument in RHEL 6.5", "t.ks:22: zerombr is already given at line 10; the installer keeps only the last"}},
		{name: "raid-device-name/fail", body: strings.Replace(lintDisks, "--device=md0", "--device=boot", 1),
			want: []string{"t.ks:18: raid --device=boot: RHEL 6.5 takes mdN (a name is an error)"}},
		{name: "raid-level-members/fail", body: strings.Replace(lintDisks, "--level=1 --device=md1", "--level=6 --device=md1", 1),
			want: []string{"t.ks:19: RAID-6 needs at least 4 active members, raid pv.01 has 2"}},
		{name: "raid-level-members/pass", body: strings.Replace(lintDisks, "--level=1 --device=md1", "--level=RAID1 --device=1", 1)},
		{name: "raid-level-unknown/fail", body: strings.Replace(lintDisks, "--level=1 --device=md1", "--level=50 --device=md1", 1),
			want: []string{"t.ks:19: raid --level=50 is not a RHEL 6 level (0, 1, 4, 5, 6 or 10)"}},
		{name: "boot-raid1/fail", body: strings.Replace(lintDisks, "raid /boot --level=1", "raid /boot --level=0", 1),
			want: []string{"t.ks:18: /boot on RAID-0: EL6's GRUB reads /boot only from a plain partition or RAID-1"}},
		{name: "raid-member-undefined/fail", body: strings.Replace(lintDisks, "raid.01 raid.02\n", "raid.01 raid.09\n", 1),
			want: []string{"t.ks:15: raid.02 is a member of no raid command", "t.ks:18: raid member raid.09 is not defined by an earlier part raid.09"}},
		{name: "raid-member-reused/fail", body: strings.Replace(lintDisks, "raid.03 raid.04", "raid.03 raid.02", 1),
			want: []string{"t.ks:17: raid.04 is a member of no raid command", "t.ks:19: raid member raid.02 is already used at line 18"}},
		{name: "mount-unique/fail", body: lintDisks + "part / --size=100 --ondisk=sda\n",
			want: []string{"t.ks:22: mount point / is already used at line 21"}},
		{name: "volgroup-pv/fail", body: strings.Replace(lintDisks, "volgroup vg0 pv.01", "volgroup vg0 pv.02", 1),
			want: []string{"t.ks:19: physical volume pv.01 is in no volgroup", "t.ks:20: physical volume pv.02 is not defined by an earlier part or raid"}},
		{name: "logvol-vg/fail", body: strings.Replace(lintDisks, "--vgname=vg0", "--vgname=vg1", 1),
			want: []string{"t.ks:21: logvol --vgname=vg1: no earlier volgroup vg1"}},
		{name: "logvol-label/fail", body: strings.Replace(lintDisks, "--name=root", "--name=root --label=root", 1),
			want: []string{"t.ks:21: logvol --label is RHEL 7 or later, not RHEL 6.5"}},
		{name: "only-use/fail", body: strings.Replace(lintDisks, "--ondisk=sdb --asprimary", "--ondisk=sdc --asprimary", 1),
			want: []string{"t.ks:15: part --ondisk names disk sdc, which ignoredisk --only-use leaves out"}},
		{name: "only-use-glob/pass", body: strings.Replace(lintBase, "--only-use=sda,sdb", "--only-use=sd?", 1) +
			strings.Replace(lintDisks, "--ondisk=sdb --asprimary", "--ondisk=/dev/sdc --asprimary", 1), whole: true},
		{name: "ignoredisk-one/fail", body: lintDisks + "ignoredisk --drives=sdc --only-use=sda\n",
			want: []string{"t.ks:22: ignoredisk is already given at line 12; the installer keeps only the last",
				"t.ks:22: ignoredisk takes exactly one of --drives, --only-use and --interactive"}},
		{name: "autopart-alone/fail", body: "autopart\npart /tmp --size=100\n",
			want: []string{"t.ks:15: part cannot be used together with autopart"}},
		{name: "onerror/fail", body: lintDisks + "%onerror\necho failed\n%end\n",
			want: []string{"t.ks:22: section %onerror does not exist in RHEL 6.5 (it came with RHEL 7)"}},
		{name: "pre-install/fail", body: lintDisks + "%pre-install\ntrue\n%end\n",
			want: []string{"t.ks:22: section %pre-install does not exist in RHEL 6.5 (it came with RHEL 7)"}},
		{name: "end-missing/fail", body: lintDisks + "%packages\n@core\n%post\ntrue\n%end\n",
			want: []string{"t.ks:22: section %packages is not closed with %end before line 24 (an error for newer parsers, a warning on 6.5)"}},
		{name: "end-missing-at-eof/fail", body: lintDisks + "%post\ntrue\n",
			want: []string{"t.ks:22: section %post is not closed with %end"}},
		{name: "end-stray/fail", body: lintDisks + "%end\n",
			want: []string{"t.ks:22: %end closes no section"}},
		{name: "sections/pass", body: lintDisks + "%packages --nobase --ignoremissing\n@core\n%end\n%pre --erroronfail --log=/tmp/pre.log\ntrue\n%end\n%post --nochroot\ntrue\n%end\n"},
		{name: "packages-option/fail", body: lintDisks + "%packages --nocore\n@core\n%end\n",
			want: []string{"t.ks:22: %packages: unknown option --nocore in RHEL 6.5"}},
		{name: "bash-n/fail", body: lintDisks + "%post\nif true; then\n  echo x\nfi fi\n%end\n",
			want: []string{"t.ks:25: bash -n: syntax error near unexpected token `fi'"}},
		{name: "bash-n-python/pass", body: lintDisks + "%post --interpreter=/usr/bin/python\nif True: print(1)\n%end\n"},
		{name: "unknown-command/fail", body: lintDisks + "key --skip\nsshkey --username=root \"ssh-rsa AAAA\"\n",
			want: []string{"t.ks:22: key is not a RHEL 6.5 kickstart command: a RHEL 5 command (installation numbers are gone in RHEL 6)",
				"t.ks:23: sshkey is not a RHEL 6.5 kickstart command: a RHEL 7 or later command"}},
		{name: "unknown-option/fail", body: lintDisks + "firewall --enabled --high\n",
			want: []string{"t.ks:22: firewall --high was removed before RHEL 6, not RHEL 6.5"}},
		{name: "bootloader-location/fail", body: strings.Replace(lintBase, "--location=mbr", "--location=disk", 1) + lintDisks, whole: true,
			want: []string{"t.ks:13: bootloader --location=disk is not mbr, partition, boot or none"}},
		{name: "unclosed-quote/fail", body: lintDisks + "bootloader --append=\"console=ttyS0\n",
			want: []string{"t.ks:22: no closing quotation"}},
		{name: "duplicate/fail", body: lintDisks + "rootpw --iscrypted $6$other$hash\n",
			want: []string{"t.ks:22: rootpw is already given at line 7; the installer keeps only the last"}},
		{name: "required/fail", body: strings.Replace(lintBase, "lang en_US.UTF-8\n", "", 1) + lintDisks, whole: true,
			want: []string{"t.ks:1: no lang command: the installer would stop and ask"}},
		{name: "mount-unique/pass", body: lintDisks + "part swap --size=100 --ondisk=sda\npart swap --size=100 --ondisk=sdb\n"},
		{name: "bash-n/pass", body: lintDisks + "%post\nif true; then echo x; fi\ncat > /etc/x <<'EOF'\nfi fi\nEOF\n%end\n"},
		{name: "duplicate/pass", body: lintDisks + "network --device=em2 --bootproto=dhcp --onboot=no\nrepo --name=a --baseurl=http://x/a\nrepo --name=b --baseurl=http://x/b\n"},
		{name: "autopart-alone/pass", body: "autopart\n"},
		{name: "unknown-command/pass", body: lintDisks + "unsupported_hardware\nsshpw --username=install --iscrypted $6$s$h\nreboot --eject\n"},
		{name: "size-unit/fail", body: strings.Replace(lintDisks, "--size=500 --ondisk=sda", "--size=500M --ondisk=sda", 1),
			want: []string{"t.ks:14: part --size=500M is not a whole number (MiB, no unit)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks := lintBase + tt.body
			if tt.whole {
				ks = tt.body
			}
			got := lintString(t, ks)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems differ (-want +got):\n%s", diff)
			}
		})
	}
}
