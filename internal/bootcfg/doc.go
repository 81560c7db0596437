// Package bootcfg renders the per-node boot configuration a network-booting
// node reads after its firmware: an iPXE script (served over HTTP at
// /boot.ipxe?mac=) or a pxelinux config (served over TFTP as
// pxelinux.cfg/01-<mac>). Rendering is a pure function of the plan, the
// node and the node's netboot state, so every output is golden-tested.
//
// While the node's netboot flag is on, the config boots the CentOS 6.5
// installer: kernel and initrd from the node's install tree, with the
// kernel arguments of kickstart.KernelArgs (ks=, ksdevice=bootif, BOOTIF,
// the static installer address, console). The ks= URL carries the node's
// callback token as ?token=, because anaconda 13 cannot send a header with
// its kickstart request; the HTTP server also checks the request comes
// from the node's own address. When netboot is off the config boots the
// local disk: iPXE "sanboot --no-describe --drive 0x80" on BIOS (falling
// back to "exit", which hands the boot back to the BIOS boot order), "exit"
// on UEFI (the firmware moves to its next boot entry), pxelinux
// "LOCALBOOT 0". A MAC the plan does not know gets a script that says so
// and boots the local disk, never the installer.
//
// # iPXE dialect
//
// The scripts use only what the iPXE of Debian's ipxe package
// (1.0.0+git-20190125) understands: #!ipxe, echo, kernel, initrd --name,
// boot, goto and labels, iseq, the || and && operators, sleep, sanboot
// --no-describe --drive (2017), exit, and the ${platform} and
// ${netX/mac:hexhyp} settings. Arguments are checked for characters iPXE
// would interpret (whitespace, $ other than the BOOTIF expansion, quotes,
// #, ||, &&), so a site's kernel_args cannot change the script.
//
// TestQEMUPXELinux and httpd's TestQEMUiPXE run these outputs in Debian's
// iPXE ROM and pxelinux 6.04 under QEMU (PROVISION_QEMU=1).
//
// pxelinux configs name kernel and initrd relative to the TFTP root
// (images/<image>/images/pxeboot/...), which the TFTP server
// must serve from the install trees. A node with a serial console gets
// a SERIAL directive, so serial-over-LAN shows pxelinux too.
//
// CentOS 6.5's kernel (2.6.32) has no EFI stub: an iPXE on UEFI cannot
// start it directly ("Could not select: Exec format error"; the script then
// boots the local disk). UEFI scripts are still rendered (initrd=initrd.img
// on the command line, as EFI-stub kernels need) for installers that can.
package bootcfg
