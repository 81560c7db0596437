// Package images is the boot image catalog: the boot loaders the
// appliance hands out over TFTP (iPXE, pxelinux and its modules, found
// where Debian or EL put them, or where the operator says) and the install
// trees it serves to installing nodes.
//
// An install tree (CentOS 6.5 x86_64: images/pxeboot/vmlinuz and
// initrd.img, repodata/, .treeinfo) is imported from an ISO image or a
// directory into STATE/images/<name>/. Import checks the tree's
// .treeinfo, assembles the tree in a temporary directory and renames it
// into place only when complete, with a manifest of the sha256 of every
// boot file; Verify re-hashes those files later. Servers read trees
// through os.Root, so no request path or symlink leaves a tree.
//
// Import does not fsync every copied file: the rename makes an import
// all-or-nothing against errors and interrupts, and after a power loss
// Verify finds a file that did not reach the disk.
package images
