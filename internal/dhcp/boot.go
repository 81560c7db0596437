package dhcp

import (
	"net/netip"
	"strings"

	"github.com/provision/provision/provision"
)

// BootFiles names what the TFTP and HTTP servers serve, so the DHCP
// replies and those servers agree. Zero fields take the defaults below.
type BootFiles struct {
	// BIOS is the TFTP file for BIOS PXE ROMs: iPXE built as a PXE NBP.
	BIOS string
	// PXELinux is the TFTP file for BIOS nodes whose loader is pxelinux.
	PXELinux string
	// EFI is the TFTP file for UEFI PXE firmware.
	EFI string
	// HTTPBoot is the URL path of the EFI loader for UEFI HTTP boot.
	HTTPBoot string
	// Script is the URL path of the per-node iPXE script; the client's
	// MAC is added as ?mac=aa:bb:cc:dd:ee:ff.
	Script string
	// LocalEFI is the TFTP file offered to UEFI PXE firmware of a node
	// whose netboot is off: the TFTP server refuses it (tftp.LocalBoot),
	// so the firmware fails its network boot at once and goes on to the
	// disk.
	LocalEFI string
}

// Default boot file names.
const (
	DefaultBIOSFile     = "undionly.kpxe"
	DefaultPXELinuxFile = "pxelinux.0"
	DefaultEFIFile      = "ipxe.efi"
	DefaultHTTPBootPath = "/ipxe.efi"
	DefaultScriptPath   = "/boot.ipxe"
	DefaultLocalEFIFile = "local-boot.efi"
)

func (f BootFiles) withDefaults() BootFiles {
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&f.BIOS, DefaultBIOSFile)
	def(&f.PXELinux, DefaultPXELinuxFile)
	def(&f.EFI, DefaultEFIFile)
	def(&f.HTTPBoot, DefaultHTTPBootPath)
	def(&f.Script, DefaultScriptPath)
	def(&f.LocalEFI, DefaultLocalEFIFile)
	return f
}

// Boot is the boot part of a reply. A zero Boot sends the client to its
// next boot device.
type Boot struct {
	// File goes in the header's file field and option 67.
	File string
	// Server is siaddr (next-server) and, as text, option 66. It is unset
	// for HTTP URLs, which carry their own host.
	Server netip.Addr
	// VendorClass, when set, is echoed as option 60: UEFI HTTP boot only
	// accepts an offer that says "HTTPClient".
	VendorClass string
	// NoProxyWait sets iPXE's option 175.176 (no-pxedhcp) so iPXE does
	// not wait for ProxyDHCP offers.
	NoProxyWait bool
}

// BootReply chooses the boot file or URL for a client and its node.
// appliance is the TFTP server, applianceURL the HTTP base URL. A node
// whose netboot is off gets no boot file: a BIOS PXE ROM reports that no
// boot file was offered and moves to the next boot device, the local
// disk. UEFI PXE firmware instead ignores such an offer and asks again
// for about a minute before it moves on (OVMF: 64 s), on every boot of a
// node whose boot order has the network first; it is offered
// files.LocalEFI, which the TFTP server refuses, and moves on at once.
func BootReply(c BootClient, node *provision.NodePlan, netboot bool, files BootFiles, appliance netip.Addr, applianceURL, mac string) Boot {
	files = files.withDefaults()
	if !netboot && c.PXE() && c.Firmware == FirmwareEFI && !c.IPXE {
		return Boot{File: files.LocalEFI, Server: appliance}
	}
	if !netboot || !c.PXE() {
		return Boot{}
	}
	base := strings.TrimSuffix(applianceURL, "/")
	tftp := func(name string) Boot {
		return Boot{File: name, Server: appliance, NoProxyWait: true}
	}
	pxelinux := node != nil && node.Loader == "pxelinux"
	switch {
	case c.Firmware == FirmwareHTTP:
		// UEFI HTTP boot loads an EFI binary by URL, iPXE or not.
		return Boot{File: base + files.HTTPBoot, VendorClass: "HTTPClient"}
	case c.IPXE && pxelinux && c.Firmware != FirmwareEFI:
		// iPXE can chain pxelinux.0 over TFTP; pxelinux does no DHCP of
		// its own, so this does not loop.
		return tftp(files.PXELinux)
	case c.IPXE:
		// Never hand an iPXE binary to iPXE: option 175 looks the same
		// to it after the chain, and it would load itself forever.
		b := Boot{File: base + files.Script + "?mac=" + mac, NoProxyWait: true}
		return b
	case c.Firmware == FirmwareBIOS && pxelinux:
		return tftp(files.PXELinux)
	case c.Firmware == FirmwareBIOS:
		return tftp(files.BIOS)
	case c.Firmware == FirmwareEFI:
		return tftp(files.EFI)
	}
	return Boot{}
}
