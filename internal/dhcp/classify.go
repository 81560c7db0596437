package dhcp

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// Firmware is the boot environment a request came from.
type Firmware int

// Firmware kinds. FirmwareNone is an ordinary DHCP client (an installer, a
// booted OS): it gets an address and no boot file.
const (
	FirmwareNone        Firmware = iota
	FirmwareBIOS                 // x86 BIOS PXE ROM (arch 0)
	FirmwareEFI                  // x86 UEFI PXE (arch 6, 7, 9)
	FirmwareHTTP                 // x86 UEFI HTTP boot (arch 15, 16)
	FirmwareUnsupported          // PXE, but for an architecture we have no loader for
)

var firmwareNames = [...]string{"none", "bios", "efi", "http", "unsupported"}

func (f Firmware) String() string {
	if int(f) < len(firmwareNames) {
		return firmwareNames[f]
	}
	return "firmware(" + strconv.Itoa(int(f)) + ")"
}

// BootClient is what a request says about the client that sent it.
type BootClient struct {
	Firmware Firmware
	// Arch is the client system architecture (RFC 4578 2.1, option 93),
	// or the Arch field of the vendor class when option 93 is missing.
	Arch    uint16
	HasArch bool
	// IPXE is true when the user class (option 77) is "iPXE": the client
	// is iPXE already and must be handed a script, never an iPXE binary.
	IPXE bool
	// VendorClass is option 60 as sent (PXEClient:Arch:00000:UNDI:002001).
	VendorClass string
}

// PXE reports whether the client asked to network-boot at all.
func (c BootClient) PXE() bool { return c.Firmware != FirmwareNone || c.IPXE }

// Classify reads options 60, 77 and 93 of a request. It is a pure
// function of the request.
func Classify(req *dhcpv4.DHCPv4) BootClient {
	var c BootClient
	c.VendorClass = string(req.GetOneOption(dhcpv4.OptionClassIdentifier))
	c.IPXE = isIPXEUserClass(req.GetOneOption(dhcpv4.OptionUserClassInformation))
	// RFC 4578 2.1: option 93 is a list of 16-bit architecture types; the
	// first is the one the client runs.
	if a := req.GetOneOption(dhcpv4.OptionClientSystemArchitectureType); len(a) >= 2 {
		c.Arch, c.HasArch = uint16(a[0])<<8|uint16(a[1]), true
	} else if arch, ok := vendorArch(c.VendorClass); ok {
		c.Arch, c.HasArch = arch, true
	}
	pxe := strings.HasPrefix(c.VendorClass, "PXEClient")
	http := strings.HasPrefix(c.VendorClass, "HTTPClient")
	switch {
	case !pxe && !http && !c.HasArch:
		c.Firmware = FirmwareNone
	case !c.HasArch:
		// A PXE client that does not say its architecture is an old
		// BIOS ROM; an HTTP client without one we cannot serve.
		c.Firmware = FirmwareBIOS
		if http {
			c.Firmware = FirmwareUnsupported
		}
	default:
		c.Firmware = archFirmware(c.Arch, http)
	}
	return c
}

// archFirmware maps an RFC 4578 / IANA processor architecture type.
func archFirmware(arch uint16, httpClient bool) Firmware {
	switch arch {
	case 0:
		return FirmwareBIOS
	case 6, 7, 9:
		if httpClient {
			return FirmwareHTTP
		}
		return FirmwareEFI
	case 15, 16:
		return FirmwareHTTP
	}
	return FirmwareUnsupported
}

// isIPXEUserClass accepts both forms iPXE and others send option 77 in:
// the bare string "iPXE" (what iPXE sends), and the RFC 3004 form of
// length-prefixed class names.
func isIPXEUserClass(b []byte) bool {
	if bytes.Equal(b, []byte("iPXE")) {
		return true
	}
	for len(b) > 0 {
		n := int(b[0])
		if n == 0 || 1+n > len(b) {
			return false
		}
		if string(b[1:1+n]) == "iPXE" {
			return true
		}
		b = b[1+n:]
	}
	return false
}

// vendorArch reads the Arch field of a PXE vendor class
// ("PXEClient:Arch:00007:UNDI:003016", PXE specification 2.1).
func vendorArch(vc string) (uint16, bool) {
	fields := strings.Split(vc, ":")
	for i := 0; i+1 < len(fields); i++ {
		if fields[i] == "Arch" {
			n, err := strconv.ParseUint(fields[i+1], 10, 16)
			return uint16(n), err == nil
		}
	}
	return 0, false
}
