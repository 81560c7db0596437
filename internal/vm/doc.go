// Package vm runs QEMU virtual machines as the appliance's nodes: real
// firmware (SeaBIOS with Debian's iPXE NIC ROM, or OVMF's own PXE), a
// real Linux kernel, and a small busybox initrd that acts as the
// installer: it brings up the PXE NIC from the kernel's ip= arguments as
// anaconda does, fetches the node's kickstart from its ks= URL, reads
// the install tree the kickstart names, posts the "installing" and
// "installed" callbacks with the node's token and reboots.
//
// The pieces that are not in the repository (a Debian kernel with its
// virtio modules, a static busybox) come from Debian's archive: `make
// vmkit` puts them in a kit directory (DefaultKitDir, or
// $PROVISION_VMKIT), FindKit reads it, and Kit.Initrd builds the initrd
// from it in memory. The same kit serves the end-to-end tests of
// `provision serve` and the lab's QEMU nodes (`provision lab up --qemu`).
//
// The initrd is not anaconda: it does not partition, lay down packages or
// run %pre and %post. What it proves is the path a real node takes
// through the appliance: firmware DHCP, TFTP or iPXE, the per-node
// script, kernel and initrd over HTTP, the kickstart served only to the
// node with its token, the callbacks, and the next boot going to disk.
package vm
