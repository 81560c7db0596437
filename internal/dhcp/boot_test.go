package dhcp

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/provision/provision/provision"
)

func TestBootReply(t *testing.T) {
	app := netip.MustParseAddr("10.3.1.10")
	url := "http://10.3.1.10/"
	mac := "02:00:00:00:00:01"
	ipxeNode := &provision.NodePlan{Name: "compute01", Loader: "ipxe"}
	pxelinuxNode := &provision.NodePlan{Name: "compute02", Loader: "pxelinux"}
	bios := BootClient{Firmware: FirmwareBIOS}
	efi := BootClient{Firmware: FirmwareEFI, Arch: 7, HasArch: true}
	tests := []struct {
		name    string
		client  BootClient
		node    *provision.NodePlan
		netboot bool
		files   BootFiles
		want    Boot
	}{
		{name: "BIOS PXE gets iPXE over TFTP", client: bios, node: ipxeNode, netboot: true,
			want: Boot{File: "undionly.kpxe", Server: app, NoProxyWait: true}},
		{name: "BIOS PXE of a pxelinux node", client: bios, node: pxelinuxNode, netboot: true,
			want: Boot{File: "pxelinux.0", Server: app, NoProxyWait: true}},
		{name: "UEFI PXE gets ipxe.efi", client: efi, node: ipxeNode, netboot: true,
			want: Boot{File: "ipxe.efi", Server: app, NoProxyWait: true}},
		{name: "UEFI of a pxelinux node still gets ipxe.efi", client: efi, node: pxelinuxNode, netboot: true,
			want: Boot{File: "ipxe.efi", Server: app, NoProxyWait: true}},
		{name: "iPXE (BIOS) gets its script, never undionly.kpxe", client: BootClient{Firmware: FirmwareBIOS, IPXE: true}, node: ipxeNode, netboot: true,
			want: Boot{File: "http://10.3.1.10/boot.ipxe?mac=02:00:00:00:00:01", NoProxyWait: true}},
		{name: "iPXE (EFI) gets its script", client: BootClient{Firmware: FirmwareEFI, IPXE: true}, node: ipxeNode, netboot: true,
			want: Boot{File: "http://10.3.1.10/boot.ipxe?mac=02:00:00:00:00:01", NoProxyWait: true}},
		{name: "iPXE without a vendor class gets its script", client: BootClient{IPXE: true}, node: ipxeNode, netboot: true,
			want: Boot{File: "http://10.3.1.10/boot.ipxe?mac=02:00:00:00:00:01", NoProxyWait: true}},
		{name: "iPXE ROM on a pxelinux node chains pxelinux.0", client: BootClient{Firmware: FirmwareBIOS, IPXE: true}, node: pxelinuxNode, netboot: true,
			want: Boot{File: "pxelinux.0", Server: app, NoProxyWait: true}},
		{name: "UEFI HTTP boot gets a URL and HTTPClient", client: BootClient{Firmware: FirmwareHTTP, Arch: 16, HasArch: true}, node: ipxeNode, netboot: true,
			want: Boot{File: "http://10.3.1.10/ipxe.efi", VendorClass: "HTTPClient"}},
		{name: "netboot off: no boot file, local disk next", client: bios, node: ipxeNode, netboot: false, want: Boot{}},
		{name: "netboot off, iPXE: no script", client: BootClient{IPXE: true}, node: ipxeNode, netboot: false, want: Boot{}},
		{name: "netboot off, UEFI PXE: the file TFTP refuses, local disk next", client: efi, node: ipxeNode, netboot: false,
			want: Boot{File: "local-boot.efi", Server: app}},
		{name: "netboot off, iPXE (EFI): no script", client: BootClient{Firmware: FirmwareEFI, IPXE: true}, node: ipxeNode, netboot: false, want: Boot{}},
		{name: "netboot off, UEFI HTTP boot: nothing", client: BootClient{Firmware: FirmwareHTTP, Arch: 16, HasArch: true}, node: ipxeNode, netboot: false, want: Boot{}},
		{name: "netboot off, configured local file", client: efi, node: ipxeNode, netboot: false, files: BootFiles{LocalEFI: "off.efi"},
			want: Boot{File: "off.efi", Server: app}},
		{name: "not a PXE client", client: BootClient{}, node: ipxeNode, netboot: true, want: Boot{}},
		{name: "unsupported arch", client: BootClient{Firmware: FirmwareUnsupported, Arch: 11, HasArch: true}, node: ipxeNode, netboot: true, want: Boot{}},
		{name: "configured names", client: bios, node: ipxeNode, netboot: true,
			files: BootFiles{BIOS: "ipxe/undionly.kpxe", Script: "/ipxe/node"},
			want:  Boot{File: "ipxe/undionly.kpxe", Server: app, NoProxyWait: true}},
		{name: "configured script path", client: BootClient{IPXE: true}, node: ipxeNode, netboot: true,
			files: BootFiles{Script: "/ipxe/node"},
			want:  Boot{File: "http://10.3.1.10/ipxe/node?mac=02:00:00:00:00:01", NoProxyWait: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := BootReply(tt.client, tt.node, tt.netboot, tt.files, app, url, mac)
			if d := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
				t.Errorf("BootReply (-want +got):\n%s", d)
			}
		})
	}
}
