// Package kickstart renders the CentOS 6.5 kickstart of a node from its
// plan, the installer kernel arguments that fetch it, and lints kickstarts
// against what CentOS 6.5's installer (anaconda 13.21.215, pykickstart
// 1.74.14 RHEL6 syntax) accepts.
//
// Rendering is a pure function of the plan and of Inputs (the secrets and
// keys the plan does not hold): the same inputs give the same bytes, so the
// output can be golden-tested and served from a cache.
//
// # What a rendered kickstart does
//
// The installer runs on the node's PXE NIC only, static on the management
// network (network --device=bootif; the boot config passes BOOTIF, see
// KernelArgs). An 802.3ad bond passes no traffic until the switch sees
// LACPDUs, so bonds, their slaves and VLAN sub-interfaces are written by
// %post as EL6 network-scripts and come up on first boot.
//
// Disks are named by position (sda, sdb, ...) in the order the plan's
// volumes list them: a hardware RAID volume is one virtual disk, any other
// volume contributes each member disk in order. Names like sdX are not
// stable across controllers, so %pre checks, before any disk is touched,
// that every expected disk exists with the expected size, that the machine
// has exactly that many disks, and that every NIC of the plan exists (with
// its MAC when the plan knows it). A mismatch is reported to the appliance
// and stops the install (%pre --erroronfail).
//
// # Callbacks
//
// The installing node reports progress to the appliance by POSTing JSON to
//
//	<appliance URL>/api/v1/nodes/<node>/events
//	Authorization: Bearer <token>
//	Content-Type: application/json
//
//	{"state": "installing" | "installed" | "failed", "message": "..."}
//
// where the token is the node's own callback token (Inputs.Token; see
// internal/hostkeys). %pre sends "installing" once its checks pass or
// "failed" with every mismatch found; %post sends "installing" as it starts
// configuring, "failed" if a step fails, and "installed" as its last act,
// just before the installer reboots the node. Callbacks are best effort
// (curl, else wget, three tries): a node that cannot reach the appliance
// still installs, and the appliance notices by timeout.
//
// # Logs
//
// The installer's logs go to the appliance too, one POST of the file's
// bytes (Content-Type text/plain, the same token) to
//
//	<appliance URL>/api/v1/nodes/<node>/logs/<file name>
//
// (LogsURL), the last MaxLogBytes of a longer file, best effort. A last
// %post --nochroot section, run after the one that reports "installed",
// reads the installer's own /tmp and uploads anaconda.log, program.log,
// storage.log, ks-pre.log, the installed system's /root/ks-post.log and
// any ks-script-*.log. %pre uploads its log and the installer's when it
// refuses the machine, and %post's ERR trap uploads ks-post.log when a
// step fails (the installer stops there, so the --nochroot section does
// not run). The uploads stop at the first the appliance does not take,
// and never fail the section they run in.
//
// The kickstart itself is fetched from KickstartURL. It holds the root
// password hash, the node's private host keys and its token, so the server
// that serves it must hand it only to that node (anaconda sends the MAC of
// every NIC in X-RHN-Provisioning-MAC-N headers because of kssendmac).
//
// # Linting
//
// Lint checks a kickstart the way CentOS 6.5's installer would read it
// (pykickstart 1.74.14's RHEL6 handler, anaconda 13.21.215), and for sense,
// and names each problem by file and line. Every rendered kickstart must
// lint clean (TestLintGolden, TestLintRendered), and provision render
// refuses to print or write one that does not. It checks:
//
//   - commands and options known to RHEL 6.5 and no others: the option
//     table follows pykickstart's RHEL6 classes; options of later releases
//     (network --domain 6.6, --interfacename RHEL 7, ...) are named as such;
//   - values: network --bootproto, addresses, --onboot, --vlanid; raid
//     --device=mdN and --level; whole-MiB sizes; zerombr with no argument;
//   - single commands given twice, and the commands an unattended install
//     needs (lang, keyboard, timezone, rootpw, authconfig, bootloader, an
//     installation source, partitioning, network for a network source);
//   - sections %pre, %post, %traceback and %packages, each closed by %end,
//     and no RHEL 7 section (%onerror, %pre-install, %addon, %anaconda);
//   - storage: raid.ID members and pv.ID volumes defined before use and
//     used exactly once, RAID levels possible for their active member count,
//     /boot on a plain partition or RAID-1 (EL6's GRUB), unique mount points,
//     logvol in a defined volgroup, disks within ignoredisk --only-use (globs
//     and /dev/disk paths allowed, as RHEL 6 does), autopart alone;
//   - network lines anaconda 6.5 mishandles (a bond with --vlanid);
//   - bash -n on every shell %pre, %post and %traceback body (exec'd with
//     the caller's context); other interpreters are not checked.
package kickstart
