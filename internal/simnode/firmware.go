package simnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"strings"
	"time"

	"github.com/pin/tftp/v3"
)

// tftpBlockSize is what PXE ROMs and OVMF ask for: an Ethernet frame less
// the IP, UDP and TFTP headers.
const tftpBlockSize = 1468

// httpTimeout bounds one HTTP request of iPXE or the installer.
const httpTimeout = 60 * time.Second

// pxe is the PXE ROM and then iPXE: it returns what the script decided.
// Errors are the simulation's; the node's own failures are actions.
func (n *node) pxe(ctx context.Context) (action, error) {
	l, err := n.dhcp(ctx, clientFirmware)
	if err != nil {
		if ctx.Err() != nil {
			return action{}, ctx.Err()
		}
		if errors.Is(err, ErrNoLink) {
			// PXE-E61: the ROM's media test found no link.
			n.step(PhaseFirmware, "link", "PXE-E61: media test failure, check cable ("+err.Error()+"), next boot device")
			return action{kind: actionLocal}, nil
		}
		// PXE-E51: no offers; the BIOS tries its next boot device.
		n.step(PhaseFirmware, "dhcp", "PXE-E51: no DHCP offer ("+err.Error()+"), next boot device")
		return action{kind: actionLocal}, nil
	}
	if l.bootFile == "" {
		n.step(PhaseFirmware, "dhcp", fmt.Sprintf("lease %s with no boot file: next boot device", l.addr))
		return action{kind: actionLocal}, nil
	}
	n.step(PhaseFirmware, "dhcp", fmt.Sprintf("lease %s, boot file %s from %s", l.addr, l.bootFile, l.server))
	if err := n.configure(ctx, l); err != nil {
		return action{}, err
	}
	size, err := n.tftpGet(l.server.String(), l.bootFile)
	if err != nil {
		if ctx.Err() != nil {
			return action{}, ctx.Err()
		}
		// PXE-E32: TFTP open timeout, or a file-not-found.
		n.step(PhaseFirmware, "tftp", fmt.Sprintf("PXE-E32: %s: %v, next boot device", l.bootFile, err))
		return action{kind: actionLocal}, nil
	}
	n.step(PhaseFirmware, "tftp", fmt.Sprintf("%s: %d bytes from %s", l.bootFile, size, l.server))
	if isPXELinux(l.bootFile) {
		return n.pxelinux(ctx, l)
	}
	return n.ipxe(ctx, l.bootFile)
}

// tftpTimeout is how long a TFTP block waits for its answer.
const tftpTimeout = 2 * time.Second

// tftpGet fetches file from server as a PXE ROM does: octet mode, blksize
// 1468, tsize asked. The bytes are counted, not kept: the simulated
// loader is this package.
func (n *node) tftpGet(server, file string) (int64, error) {
	c, err := newTFTPClient(server)
	if err != nil {
		return 0, err
	}
	wt, err := c.Receive(file, "octet")
	if err != nil {
		return 0, fmt.Errorf("tftp %s: %w", file, err)
	}
	got, err := wt.WriteTo(io.Discard)
	if err != nil {
		return got, fmt.Errorf("tftp %s: %w", file, err)
	}
	if it, ok := wt.(tftp.IncomingTransfer); ok {
		if size, ok := it.Size(); ok && size != got {
			return got, fmt.Errorf("tftp %s: %d bytes of %d", file, got, size)
		}
	}
	return got, nil
}

// ipxe is iPXE after the chain: its own DHCP, then the script at the URL
// it is offered.
func (n *node) ipxe(ctx context.Context, loader string) (action, error) {
	// iPXE starts from an unconfigured NIC, as after a reset.
	if err := n.ip.run(ctx, "addr", "flush", "dev", n.cfg.Interface); err != nil {
		return action{}, err
	}
	l, err := n.dhcp(ctx, clientIPXE)
	if err != nil {
		if ctx.Err() != nil {
			return action{}, ctx.Err()
		}
		n.step(PhaseIPXE, "dhcp", "no DHCP answer ("+err.Error()+"): iPXE exits to the BIOS, next boot device")
		return action{kind: actionLocal}, nil
	}
	if err := n.configure(ctx, l); err != nil {
		return action{}, err
	}
	url := l.bootFile
	switch {
	case url == "":
		n.step(PhaseIPXE, "dhcp", fmt.Sprintf("lease %s with no boot file: iPXE exits, next boot device", l.addr))
		return action{kind: actionLocal}, nil
	case url == loader || strings.HasSuffix(url, ".kpxe") || strings.HasSuffix(url, ".efi"):
		// FIELD-NOTES: an iPXE handed iPXE again loops forever.
		n.fail(PhaseIPXE, "dhcp", fmt.Sprintf("iPXE was offered a boot loader (%s) again: it would chain itself forever", url))
		return action{kind: actionHalt}, nil
	case !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://"):
		n.fail(PhaseIPXE, "dhcp", fmt.Sprintf("iPXE was offered %s: the simulated iPXE runs HTTP scripts only", url))
		return action{kind: actionHalt}, nil
	}
	n.step(PhaseIPXE, "dhcp", fmt.Sprintf("lease %s, script %s", l.addr, redactURL(url)))
	env := &ipxeEnv{platform: "pcbios", mac: n.cfg.MAC, fetch: n.fetch, log: func(what, msg string) { n.step(PhaseIPXE, what, msg) }}
	if n.cfg.BootMode == "uefi" {
		env.platform = "efi"
	}
	body, err := n.fetchBody(ctx, url, nil)
	if err != nil {
		if ctx.Err() != nil {
			return action{}, ctx.Err()
		}
		n.step(PhaseIPXE, "script", fmt.Sprintf("%s: %v: iPXE exits, next boot device", redactURL(url), err))
		return action{kind: actionLocal}, nil
	}
	n.step(PhaseIPXE, "script", fmt.Sprintf("%s: %d bytes", redactURL(url), len(body)))
	act, err := env.run(ctx, body)
	if err != nil {
		return action{}, err
	}
	return act, nil
}

// httpClient is a client for one request: no connection is kept between
// the node's phases, as each is a different program.
func httpClient() *http.Client {
	return &http.Client{Timeout: httpTimeout, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
}

// fetch GETs url and counts its bytes (kernel, initrd).
func (n *node) fetch(ctx context.Context, url string) (int64, error) {
	resp, err := n.get(ctx, url, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	got, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return got, fmt.Errorf("GET %s: %w", redactURL(url), err)
	}
	return got, nil
}

// maxBody bounds a script or kickstart read into memory.
const maxBody = 4 << 20

// fetchBody GETs url and returns its body.
func (n *node) fetchBody(ctx context.Context, url string, hdr http.Header) ([]byte, error) {
	resp, err := n.get(ctx, url, hdr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", redactURL(url), err)
	}
	return b, nil
}

func (n *node) get(ctx context.Context, url string, hdr http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", redactURL(url), err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := httpClient().Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", redactURL(url), unwrapURL(err))
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s", redactURL(url), resp.Status)
	}
	return resp, nil
}

// redactURL drops the query, where the node's token travels.
func redactURL(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i] + "?..."
	}
	return u
}

// unwrapURL drops net/http's *url.Error wrapping, which repeats the URL,
// token and all.
func unwrapURL(err error) error {
	var ue *neturl.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
