package dhcp

import (
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv4"
)

// request builds a DISCOVER with the given options 60, 77 and 93 (nil
// leaves one out).
func request(t testing.TB, vendor string, user []byte, arch []byte) *dhcpv4.DHCPv4 {
	t.Helper()
	mods := []dhcpv4.Modifier{}
	if vendor != "" {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptClassIdentifier(vendor)))
	}
	if user != nil {
		mods = append(mods, dhcpv4.WithGeneric(dhcpv4.OptionUserClassInformation, user))
	}
	if arch != nil {
		mods = append(mods, dhcpv4.WithGeneric(dhcpv4.OptionClientSystemArchitectureType, arch))
	}
	req, err := dhcpv4.NewDiscovery(net.HardwareAddr{2, 0, 0, 0, 0, 1}, mods...)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name   string
		vendor string
		user   []byte
		arch   []byte
		want   BootClient
	}{
		{name: "plain DHCP client", want: BootClient{}},
		{name: "installer dhclient with a vendor class", vendor: "anaconda-Linux 2.6.32", want: BootClient{VendorClass: "anaconda-Linux 2.6.32"}},
		{name: "BIOS PXE ROM", vendor: "PXEClient:Arch:00000:UNDI:002001", arch: []byte{0, 0},
			want: BootClient{Firmware: FirmwareBIOS, HasArch: true, VendorClass: "PXEClient:Arch:00000:UNDI:002001"}},
		{name: "old BIOS ROM without option 93", vendor: "PXEClient",
			want: BootClient{Firmware: FirmwareBIOS, VendorClass: "PXEClient"}},
		{name: "arch from the vendor class when 93 is missing", vendor: "PXEClient:Arch:00007:UNDI:003016",
			want: BootClient{Firmware: FirmwareEFI, Arch: 7, HasArch: true, VendorClass: "PXEClient:Arch:00007:UNDI:003016"}},
		{name: "UEFI x64 (OVMF, arch 7)", vendor: "PXEClient:Arch:00007:UNDI:003000", arch: []byte{0, 7},
			want: BootClient{Firmware: FirmwareEFI, Arch: 7, HasArch: true, VendorClass: "PXEClient:Arch:00007:UNDI:003000"}},
		{name: "UEFI IA32 (arch 6)", vendor: "PXEClient", arch: []byte{0, 6},
			want: BootClient{Firmware: FirmwareEFI, Arch: 6, HasArch: true, VendorClass: "PXEClient"}},
		{name: "UEFI x64 (arch 9)", vendor: "PXEClient", arch: []byte{0, 9},
			want: BootClient{Firmware: FirmwareEFI, Arch: 9, HasArch: true, VendorClass: "PXEClient"}},
		{name: "UEFI HTTP boot (arch 16)", vendor: "HTTPClient:Arch:00016:UNDI:003001", arch: []byte{0, 16},
			want: BootClient{Firmware: FirmwareHTTP, Arch: 16, HasArch: true, VendorClass: "HTTPClient:Arch:00016:UNDI:003001"}},
		{name: "HTTP client with an EFI arch", vendor: "HTTPClient", arch: []byte{0, 7},
			want: BootClient{Firmware: FirmwareHTTP, Arch: 7, HasArch: true, VendorClass: "HTTPClient"}},
		{name: "HTTP client without arch", vendor: "HTTPClient",
			want: BootClient{Firmware: FirmwareUnsupported, VendorClass: "HTTPClient"}},
		{name: "ARM64 UEFI: no loader for it", vendor: "PXEClient", arch: []byte{0, 11},
			want: BootClient{Firmware: FirmwareUnsupported, Arch: 11, HasArch: true, VendorClass: "PXEClient"}},
		{name: "iPXE in BIOS (QEMU ROM)", vendor: "PXEClient:Arch:00000:UNDI:002001", user: []byte("iPXE"), arch: []byte{0, 0},
			want: BootClient{Firmware: FirmwareBIOS, HasArch: true, IPXE: true, VendorClass: "PXEClient:Arch:00000:UNDI:002001"}},
		{name: "iPXE in EFI", vendor: "PXEClient:Arch:00007:UNDI:003010", user: []byte("iPXE"), arch: []byte{0, 7},
			want: BootClient{Firmware: FirmwareEFI, Arch: 7, HasArch: true, IPXE: true, VendorClass: "PXEClient:Arch:00007:UNDI:003010"}},
		{name: "iPXE user class in RFC 3004 form", user: []byte{3, 'f', 'o', 'o', 4, 'i', 'P', 'X', 'E'},
			want: BootClient{IPXE: true}},
		{name: "other user class", user: []byte("gPXE"), want: BootClient{}},
		{name: "truncated RFC 3004 user class", user: []byte{9, 'i', 'P', 'X', 'E'}, want: BootClient{}},
		{name: "short option 93 is ignored", vendor: "PXEClient", arch: []byte{7},
			want: BootClient{Firmware: FirmwareBIOS, VendorClass: "PXEClient"}},
		{name: "second architecture in 93 is ignored", vendor: "PXEClient", arch: []byte{0, 7, 0, 0},
			want: BootClient{Firmware: FirmwareEFI, Arch: 7, HasArch: true, VendorClass: "PXEClient"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Classify(request(t, tt.vendor, tt.user, tt.arch))
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("Classify (-want +got):\n%s", d)
			}
		})
	}
}
