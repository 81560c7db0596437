// Package tftp is the appliance's read-only TFTP server, on
// github.com/pin/tftp/v3. It serves through an ordered list of routes,
// the first that matches a path answering it (smee's design): the boot
// loaders of the image catalog, files generated per node on the fly
// (pxelinux.cfg/01-<mac>, iPXE scripts) and install-tree files read
// through os.Root. LocalBoot refuses the one name offered to the UEFI
// firmware of a node whose netboot is off, so that it boots its disk at
// once instead of asking DHCP again for a minute.
//
// pin/tftp hands the requested name over raw, so every name passes
// CleanPath first: writes, "..", absolute paths, NUL, backslashes,
// control characters and names over 255 bytes are refused with an error
// to the client, and os.Root keeps symlinks from leading out of a tree.
// tsize (RFC 2349) and blksize (RFC 2348) are honoured; the library has
// no windowsize (RFC 7440).
//
// Read requests are served by the package's lane (lane.go): its own
// lock-step sender, which answers what pin/tftp would answer but waits
// for each ACK by polling its socket briefly before it parks, as
// lock-step TFTP against a fast client needs to beat in.tftpd. Write
// requests, netascii and packets that are no request go to pin/tftp,
// which serves everything when the lane is off.
//
// Each request ends in one provision.Event: transfer, transfer-failed,
// probe (a client that asked only for the size, as UEFI firmware does),
// local-boot, not-found or refused, with the node when the client's
// address names one, the file, bytes and duration.
package tftp
