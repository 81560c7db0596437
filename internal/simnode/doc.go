// Package simnode is the simulated node of the virtual lab: one boot of one
// Dell server, from power-on to power-off, over real packets from the
// network namespace the calling process runs in (the lab starts it with
// `ip netns exec NS provision lab boot ...`).
//
// Boot plays three parts in turn, against the appliance's real servers:
//
//   - the firmware: when the iDRAC set PXE-once, a PXE ROM's DHCP (option 93
//     arch 0 or 7, option 60 PXEClient, no user class), the TFTP transfer of
//     the boot file it was offered, then iPXE's own DHCP (option 77 "iPXE",
//     option 175) for the URL of the node's script, and that script run by a
//     small iPXE interpreter: kernel, initrd and boot, or exit/sanboot to the
//     local disk. A firmware offered no boot file boots its disk, as a PXE
//     ROM's "next boot device" does.
//   - the CentOS 6.5 installer: the kickstart from ks= with kssendmac's
//     header, linted with kickstart.Lint (a kickstart that does not lint
//     fails the install, as anaconda stops on it); %pre's disk and NIC checks
//     against the node's simulated disks and NICs; the progress callbacks the
//     kickstart's report lines send, to its EVENTS_URL with its TOKEN; the
//     simulated install time; %post's files (its here-documents, chmods and
//     install -d) written under the node's root directory; the "installed"
//     callback; the reboot.
//   - the installed system: the addresses of its ifcfg files brought up in
//     the namespace (bonds and VLAN sub-interfaces where the kernel has
//     them, macvlan stand-ins where it has not, the management address on
//     the PXE interface at least) and a real OpenSSH sshd on port 22 of the
//     management address, with the host keys and root's authorized_keys the
//     kickstart installed.
//
// Each DHCP, the firmware's, iPXE's and the installer's, first waits for
// the PXE NIC's carrier as the real program does (the ROM's media test,
// iPXE's "Waiting for link-up"): a switch port that flaps costs a wait, and
// one that stays down a PXE-E61 and the next boot device.
//
// Power-off is the end of the context: sshd and its sessions are killed,
// the links the node made are removed and the PXE interface is left bare,
// as at power-on. Boot refuses to run in the host's own network namespace.
//
// A node's own failures (a kickstart that does not lint, %pre refusing the
// machine, no bootable device) are steps of its timeline, logged and passed
// to Config.Progress; the node then sits at its error screen until power-off
// and Boot returns nil. Boot returns an error only when the simulation
// itself cannot go on (no ip command, sshd will not start).
package simnode
