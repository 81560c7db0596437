package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/provision/provision/internal/appliance"
	"github.com/provision/provision/internal/bootcfg"
	"github.com/provision/provision/kickstart"
	"github.com/provision/provision/provision"
)

// printActions lists, node by node, every action a rollout would take:
// the BMC calls, the state changes, what the servers would give the node
// (with the sha256 of each artifact) and what the engine would wait for.
// It renders in memory and changes nothing: a node's host keys and token
// do not exist before its first install, so its kickstart is shown
// redacted (the hash is of that text).
func (a *app) printActions(site *provision.Site, plan *provision.Plan, nodes []*provision.NodePlan,
	status func(string) provision.Status, req appliance.RolloutRequest) error {
	t := req.Tuning
	fmt.Fprintln(a.stdout, "\nactions (dry run: nothing is done):")
	for _, n := range nodes {
		st := status(n.Name)
		if st.State == provision.StateReady && !req.Reinstall {
			continue
		}
		say := func(what, format string, args ...any) {
			fmt.Fprintf(a.stdout, "  %-14s %-8s %s\n", n.Name, what, fmt.Sprintf(format, args...))
		}
		if req.Forget {
			say("state", "forget the node's state (its events stay in the log)")
		}
		if st.State.Busy() && !req.Reinstall {
			say("resume", "from %s: wait for it as below", st.State)
		}
		if n.PXE.MAC == "" {
			say("bmc", "GET %s EthernetInterfaces: read the MACs of %s", n.IDRAC.Endpoint, nicNames(n))
		} else {
			say("mac", "%s %s (known)", n.PXE.NIC, n.PXE.MAC)
		}
		say("state", "netboot on")
		mode := "Legacy"
		if n.BootMode == "uefi" {
			mode = "UEFI"
		}
		say("bmc", "PATCH Boot: BootSourceOverrideTarget=Pxe, Enabled=Once (mode %s, written only if it differs)", mode)
		say("bmc", "POST ComputerSystem.Reset: On if off, else ForceRestart; wait for On")
		ipxe, err := bootcfg.IPXE(plan, n, bootcfg.State{Netboot: true})
		if err != nil {
			return err
		}
		pxl, err := bootcfg.PXELinux(plan, n, bootcfg.State{Netboot: true})
		if err != nil {
			return err
		}
		ks, err := kickstart.Render(plan, n, dryRunInputs(site))
		if err != nil {
			return fmt.Errorf("node %s: kickstart: %w", n.Name, err)
		}
		say("serve", "iPXE script %s, pxelinux config %s, kickstart (redacted) %s, %d bytes", sum(ipxe), sum(pxl), sum(ks), len(ks))
		say("wait", "DHCP from %s within %s, installed callback within %s, retries %d", n.PXE.NIC, t.Timeouts.DHCP, t.Timeouts.Install, t.Retries)
		say("wipe", "%s", strings.Join(provision.Wipes(n), "; "))
		say("ssh", "verify its generated host key, upload and run its %s profile", strings.Join(n.Roles, "+"))
	}
	return nil
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])[:16]
}

func nicNames(n *provision.NodePlan) string {
	var names []string
	for _, nic := range n.Hardware.NICs {
		names = append(names, nic.Name+"="+nic.RedfishID)
	}
	return strings.Join(names, " ")
}

// dryRunInputs are kickstart inputs that need nothing generated: the
// secrets are redacted, the host keys stand-ins.
func dryRunInputs(site *provision.Site) kickstart.Inputs {
	in := kickstart.Inputs{Redact: true, Token: provision.NewSecret("dry-run"),
		HostKeys: []kickstart.HostKey{
			{Type: "rsa", Private: provision.NewSecret("dry-run"), Public: "ssh-rsa (generated at the first install)"},
			{Type: "ecdsa", Private: provision.NewSecret("dry-run"), Public: "ecdsa-sha2-nistp256 (generated at the first install)"},
		}}
	if site != nil && site.Secrets != nil {
		in.RootPasswordHash = site.Secrets.RootPasswordHash
		in.AuthorizedKeys = site.Secrets.SSHAuthorizedKeys
	}
	return in
}
