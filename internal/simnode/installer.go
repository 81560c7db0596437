package simnode

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/provision/provision/kickstart"
)

// kernelArgs reads a command line as the installer does: the first of
// each key=value, bare words as "".
func kernelArgs(args []string) map[string]string {
	m := map[string]string{}
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		if _, seen := m[k]; !seen {
			m[k] = v
		}
	}
	return m
}

// install is the CentOS installer booted with act's kernel command line.
func (n *node) install(ctx context.Context, act action) (next, error) {
	args := kernelArgs(act.args)
	n.step(PhaseInstaller, "kernel", "installer booted: "+redactArgs(act.args))
	if args["ksdevice"] == "bootif" {
		want := "01-" + strings.ReplaceAll(n.cfg.MAC.String(), ":", "-")
		switch b := strings.ToLower(args["BOOTIF"]); {
		case b == "":
			return n.fail(PhaseInstaller, "network", "ksdevice=bootif without BOOTIF: the installer cannot tell which NIC to use"), nil
		case b != want:
			return n.fail(PhaseInstaller, "network", fmt.Sprintf("BOOTIF=%s is not this node's PXE NIC (%s)", b, want)), nil
		}
	}
	if err := n.installNetwork(ctx, args); err != nil {
		if ctx.Err() != nil {
			return halted, ctx.Err()
		}
		return n.fail(PhaseInstaller, "network", err.Error()), nil
	}
	ksURL := args["ks"]
	if ksURL == "" {
		return n.fail(PhaseInstaller, "kickstart", "no ks= on the kernel command line: the installer waits for a person"), nil
	}
	// kssendmac: anaconda names each NIC and its MAC in headers.
	hdr := http.Header{"X-Rhn-Provisioning-Mac-0": {n.cfg.PXENIC + " " + n.cfg.MAC.String()}}
	data, err := n.fetchBody(ctx, ksURL, hdr)
	if err != nil {
		if ctx.Err() != nil {
			return halted, ctx.Err()
		}
		return n.fail(PhaseInstaller, "kickstart", "cannot get the kickstart: "+err.Error()), nil
	}
	n.step(PhaseInstaller, "kickstart", fmt.Sprintf("%s: %d bytes", redactURL(ksURL), len(data)))
	ks := parseKickstart(data)
	cb := n.callbacks(ks, ksURL)
	probs, err := kickstart.Lint(ctx, n.cfg.Node+".ks", data)
	if err != nil {
		return halted, fmt.Errorf("lint kickstart: %w", err)
	}
	if len(probs) > 0 {
		msg := fmt.Sprintf("kickstart does not lint (%d problems): %s", len(probs), probs[0].String())
		n.fail(PhaseInstaller, "lint", msg)
		cb.post(ctx, "failed", msg)
		return halted, nil
	}
	n.step(PhaseInstaller, "lint", "kickstart lints clean")
	if nx, ok := n.pre(ctx, ks, cb); !ok {
		return nx, nil
	}
	if err := n.wipe(); err != nil {
		return halted, err
	}
	n.step(PhaseInstaller, "packages", "installing packages for "+n.cfg.InstallTime.String())
	if err := wait(ctx, n.cfg.InstallTime); err != nil {
		return halted, err
	}
	if err := n.post(ctx, ks, cb); err != nil {
		return halted, err
	}
	if err := os.WriteFile(n.installedMarker(), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o600); err != nil {
		return halted, fmt.Errorf("installed marker: %w", err)
	}
	n.step(PhaseInstaller, "reboot", "install done, rebooting")
	if err := n.resetNetwork(ctx); err != nil {
		return halted, fmt.Errorf("reboot: %w", err)
	}
	return bootDisk, nil
}

// installNetwork brings up the install-time network: static from ip=,
// netmask= and gateway=, else DHCP as an ordinary client.
func (n *node) installNetwork(ctx context.Context, args map[string]string) error {
	if args["ip"] == "" || args["ip"] == "dhcp" {
		l, err := n.dhcp(ctx, clientInstaller)
		if err != nil {
			return fmt.Errorf("installer DHCP: %w", err)
		}
		n.step(PhaseInstaller, "network", "DHCP lease "+l.addr.String())
		return n.configure(ctx, l)
	}
	ip, err := netip.ParseAddr(args["ip"])
	if err != nil {
		return fmt.Errorf("ip=%s: %w", args["ip"], err)
	}
	bits := 24
	if m := args["netmask"]; m != "" {
		mask, err := netip.ParseAddr(m)
		if err != nil || !mask.Is4() {
			return fmt.Errorf("netmask=%s is not an IPv4 mask", m)
		}
		bits = maskBits(mask)
	}
	l := lease{addr: netip.PrefixFrom(ip, bits)}
	l.router, _ = netip.ParseAddr(args["gateway"])
	n.step(PhaseInstaller, "network", "static "+l.addr.String())
	return n.configure(ctx, l)
}

// pre simulates %pre: the machine checks, then its reports. It returns
// false when %pre refused the machine.
func (n *node) pre(ctx context.Context, ks ksScripts, cb callbacks) (next, bool) {
	checks := parsePre(ks.pre)
	problems := n.checkMachine(checks)
	if len(problems) > 0 {
		msg := strings.ReplaceAll(checks.failMsg, "$problems", strings.Join(problems, "; "))
		n.fail(PhaseInstaller, "pre", "%pre refused: "+msg)
		cb.post(ctx, "failed", msg)
		return halted, false
	}
	n.step(PhaseInstaller, "pre", fmt.Sprintf("%%pre passed: %d disks, %d NICs checked", len(checks.disks), len(checks.nics)))
	for _, l := range ks.pre {
		if r, ok := reportLine(l); ok {
			cb.post(ctx, r.state, r.msg)
		}
	}
	return bootDisk, true
}

// checkMachine is check_disk, the fixed-disk count and check_nic of %pre,
// against the simulated machine, in the script's words.
func (n *node) checkMachine(pc preChecks) []string {
	disks := n.disks(pc)
	var problems []string
	for _, c := range pc.disks {
		d, ok := disks[c.dev]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("disk %s (%s) is missing", c.dev, c.what))
		case d.Sectors < c.min || d.Sectors > c.max:
			problems = append(problems, fmt.Sprintf("disk %s (%s) has %d sectors, the plan expects %d to %d", c.dev, c.what, d.Sectors, c.min, c.max))
		}
	}
	fixed := 0
	for _, d := range disks {
		if !d.Removable && d.Sectors > 0 && strings.HasPrefix(d.Name, "sd") {
			fixed++
		}
	}
	if pc.diskCount >= 0 && fixed != pc.diskCount {
		problems = append(problems, fmt.Sprintf("found %d fixed disks, the plan expects %d", fixed, pc.diskCount))
	}
	for _, name := range pc.nics {
		mac, ok := n.nicMAC(name)
		want := pc.nicMACs[name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("NIC %s is missing", name))
		case want != "" && mac != "" && !strings.EqualFold(mac, want):
			problems = append(problems, fmt.Sprintf("NIC %s has MAC %s, the plan says %s", name, mac, want))
		}
	}
	return problems
}

// disks is the machine's disks by name: Config.Disks, or those %pre
// expects, less Faults.MissingDisk.
func (n *node) disks(pc preChecks) map[string]Disk {
	m := map[string]Disk{}
	if n.cfg.Disks != nil {
		for _, d := range n.cfg.Disks {
			m[d.Name] = d
		}
	} else {
		for _, c := range pc.disks {
			m[c.dev] = Disk{Name: c.dev, Sectors: c.min + (c.max-c.min)/2}
		}
	}
	delete(m, n.cfg.Faults.MissingDisk)
	return m
}

func (n *node) nicMAC(name string) (string, bool) {
	if n.cfg.NICs == nil {
		if name == n.cfg.PXENIC {
			return n.cfg.MAC.String(), true
		}
		return "", true
	}
	mac, ok := n.cfg.NICs[name]
	return mac, ok
}

func (n *node) installedMarker() string { return filepath.Join(n.stateDir(), "installed") }

// callbacks posts the installer's reports as the kickstart's report
// function does: JSON with state and message, the node's token as a
// bearer, curl's -m 10 --retry 3.
type callbacks struct {
	n     *node
	url   string
	token string
}

// callbacks takes EVENTS_URL and TOKEN from the kickstart, else the
// events URL beside ks= and its ?token=.
func (n *node) callbacks(ks ksScripts, ksURL string) callbacks {
	cb := callbacks{n: n, url: ks.eventsURL, token: ks.token}
	if u, err := neturl.Parse(ksURL); err == nil {
		if cb.token == "" {
			cb.token = u.Query().Get("token")
		}
		if cb.url == "" {
			cb.url = u.Scheme + "://" + u.Host + "/api/v1/nodes/" + n.cfg.Node + "/events"
		}
	}
	return cb
}

// post sends one report, best effort like the kickstart's: a report that
// cannot be sent is logged and the install goes on.
func (cb callbacks) post(ctx context.Context, state, msg string) {
	n := cb.n
	if n.cfg.Faults.NoCallback {
		n.step(PhaseInstaller, "callback", fmt.Sprintf("%s: not sent (fault: never calls back)", state))
		return
	}
	// The report function drops quotes, backslashes and newlines.
	msg = strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r == '\n' {
			return -1
		}
		return r
	}, msg)
	body, _ := json.Marshal(map[string]string{"state": state, "message": msg})
	delay := time.Second
	var last string
	for try := 0; try <= 3; try++ {
		code, err := cb.send(ctx, body)
		switch {
		case err == nil && code == http.StatusOK:
			n.step(PhaseInstaller, "callback", fmt.Sprintf("%s: %s", state, msg))
			return
		case err != nil:
			last = err.Error()
		default:
			last = fmt.Sprintf("HTTP %d", code)
			// curl -f --retry retries 408, 429 and 5xx only.
			if code != 408 && code != 429 && code < 500 {
				try = 3
			}
		}
		if try < 3 && wait(ctx, delay) != nil {
			break
		}
		delay *= 2
	}
	n.step(PhaseInstaller, "callback", fmt.Sprintf("could not report state %s: %s", state, last))
}

func (cb callbacks) send(ctx context.Context, body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cb.url, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("callback: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+cb.token)
	resp, err := httpClient().Do(req)
	if err != nil {
		return 0, fmt.Errorf("POST %s: %w", cb.url, unwrapURL(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// redactArgs is a command line with the kickstart URL's query dropped.
func redactArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if v, ok := strings.CutPrefix(a, "ks="); ok {
			out[i] = "ks=" + redactURL(v)
		}
	}
	return strings.Join(out, " ")
}
