package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/provision/provision/internal/netnstest"
	"github.com/provision/provision/internal/store"
	"github.com/provision/provision/internal/vm"
	"github.com/provision/provision/provision"
)

// vmKit finds the VM kit for a QEMU test, which runs only with
// PROVISION_QEMU=1 (make test and make e2e set it; make vmkit fetches
// the kit).
func vmKit(t *testing.T) *vm.Kit {
	t.Helper()
	if os.Getenv("PROVISION_QEMU") == "" {
		t.Skip("set PROVISION_QEMU=1 to run (make e2e)")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Fatalf("PROVISION_QEMU is set but %v", vm.ErrNoQEMU)
	}
	k, err := vm.FindKit(vm.KitDir(os.Getenv))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// setNodeKeys adds TOML lines (keys of the node's table) to nodes of a
// site file, after each node's name.
func setNodeKeys(t *testing.T, site string, lines map[string]string) {
	t.Helper()
	data, err := os.ReadFile(site)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for node, add := range lines {
		line := fmt.Sprintf("name = %q\n", node)
		if !strings.Contains(s, line) {
			t.Fatalf("%s: no node %s", site, node)
		}
		s = strings.Replace(s, line, line+add, 1)
	}
	if err := os.WriteFile(site, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestQEMUServe is the end-to-end test of `provision serve` with real
// firmware: two QEMU VMs, one SeaBIOS with Debian's iPXE NIC ROM and one
// OVMF with its own PXE and no NIC ROM, plugged by taps into a bridge in
// a namespace this test makes, where serve runs with admin01's address.
// Each VM gets its reserved address over DHCP, iPXE (from the ROM, or
// ipxe.efi over TFTP on UEFI) its script, the kernel (Debian's) and
// initrd (the VM kit's busybox installer) over HTTP; the installer
// fetches the node's kickstart with its token and posts "installed";
// the VM reboots, and its next DHCP offer, netboot now off, has no boot
// file: the firmware moves on to the disk.
func TestQEMUServe(t *testing.T) {
	k := vmKit(t)
	bin := labBinary(t)
	site, state := copySite(t, "paper"), t.TempDir()
	vms := []struct {
		node, mac string
		fw        vm.Firmware
	}{
		{"compute01", "52:54:00:e2:e0:01", vm.BIOS},
		{"compute02", "52:54:00:e2:e0:02", vm.UEFI},
	}
	keys := map[string]string{}
	for _, v := range vms {
		keys[v.node] = fmt.Sprintf("macs = { em1 = %q }\nboot_mode = %q\n", v.mac, v.fw)
	}
	setNodeKeys(t, site, keys)
	loaded, probs := provision.Load(site)
	if err := probs.Err(); err != nil {
		t.Fatal(err)
	}
	plan, probs := provision.Build(loaded, provision.Options{})
	if err := probs.Err(); err != nil {
		t.Fatal(err)
	}
	run := mustRun(t, bin, site, state)
	tree := filepath.Join(t.TempDir(), "tree")
	if err := k.WriteTree(tree); err != nil {
		t.Fatal(err)
	}
	run("images", "import", tree, "--name", "centos-6.5")
	for _, v := range vms {
		run("netboot", "on", v.node)
	}

	ns := netnstest.New(t)
	for _, args := range [][]string{
		{"link", "add", "br0", "type", "bridge"},
		{"addr", "add", "10.3.1.10/24", "dev", "br0"},
		{"link", "set", "br0", "up"},
	} {
		if out, err := exec.Command("ip", append([]string{"-n", ns.Name}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	for _, v := range vms {
		if err := vm.AddTap(t.Context(), ns.Name, "tap-"+string(v.fw), "br0"); err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	serveLog, stopServe := startServe(t, ns.Command(ctx, bin, "serve", "--site", site, "--state", state, "--interface", "br0", "--no-profiles"))
	// serve probes for another DHCP server before it answers (4 s); a
	// firmware gives up DHCP after some 20 s, which a loaded machine
	// could exceed, so the VMs start once serve answers.
	if _, err := vm.WaitConsole(ctx, serveLog, 0, `msg="dhcp serving"`); err != nil {
		t.Fatalf("serve did not start: %v", err)
	}
	dir := t.TempDir()
	type running struct {
		node, serial string
		cmd          *exec.Cmd
	}
	var all []running
	for _, v := range vms {
		serial := filepath.Join(dir, v.node+".console")
		cmd, err := vm.Command(ctx, vm.Config{Name: v.node, MAC: v.mac, Tap: "tap-" + string(v.fw), Firmware: v.fw,
			Serial: serial, Namespace: ns.Name})
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		all = append(all, running{v.node, serial, cmd})
	}
	start := time.Now()
	for i, r := range all {
		off, err := vm.WaitConsole(ctx, r.serial, 0, "provision-vm: installed, rebooting", "provision-vm: install stopped")
		if err != nil {
			out, _ := os.ReadFile(serveLog)
			t.Fatalf("%s: %v\nserve's log:\n%s", r.node, err, out)
		}
		t.Logf("%s (%s): installed %s after power-on", r.node, vms[i].fw, time.Since(start).Round(time.Second))
		if _, err := vm.WaitConsole(ctx, r.serial, off, vm.LocalBootSign(vms[i].fw)); err != nil {
			t.Fatalf("%s: second boot: %v", r.node, err)
		}
		t.Logf("%s (%s): turned to its disk %s after power-on", r.node, vms[i].fw, time.Since(start).Round(time.Second))
		_ = r.cmd.Process.Kill()
	}
	stopServe()
	if out, _ := os.ReadFile(serveLog); !strings.Contains(string(out), "answering IPv6 router solicitations") {
		t.Errorf("serve did not start its router advertiser (iPXE waits ~13 s for a router at each DHCP); its log:\n%s", out)
	}
	// serve alone followed each install started by hand: installed, one
	// attempt, by hand, and none of the nodes' events refused.
	var statuses []provision.Status
	if err := json.Unmarshal([]byte(run("status", "--json", "compute01", "compute02")), &statuses); err != nil {
		t.Fatal(err)
	}
	for _, s := range statuses {
		if s.State != provision.StateInstalled || !s.ByHand || s.Attempt != 1 || s.Refused != 0 {
			t.Errorf("%s: status %+v, want installed by hand, attempt 1, nothing refused", s.Node, s)
		}
	}
	if len(statuses) != 2 {
		t.Errorf("%d statuses, want 2", len(statuses))
	}

	st, err := store.Open(state, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, err := st.Events(store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vms {
		var kinds []string
		for _, e := range evs {
			if e.Node != v.node {
				continue
			}
			switch e.Kind {
			case provision.KindLease, provision.KindKickstart, provision.KindInstalled:
				kinds = append(kinds, e.Kind)
			case provision.KindTransfer, "local-boot":
				kinds = append(kinds, e.Kind+":"+e.Attrs["file"])
			case provision.KindBootScript:
				kinds = append(kinds, e.Kind+":netboot="+e.Attrs["netboot"])
			}
		}
		kinds = dedup(kinds)
		// The second boot's events, after the installed callback, sorted:
		// a lease event is stored up to 10 ms after its reply, and OVMF
		// asks TFTP within that.
		if i := slices.Index(kinds, provision.KindInstalled); i >= 0 {
			slices.Sort(kinds[i+1:])
		}
		got := strings.Join(kinds, " ")
		// The second boot: iPXE's ROM takes the offer without a boot file
		// (a lease) and returns to SeaBIOS; OVMF takes the offer of the
		// file the TFTP server refuses (a lease), is refused it and
		// moves on to its disk.
		want := "lease boot-script:netboot=true kickstart installed lease"
		if v.fw == vm.UEFI {
			want = "lease transfer:ipxe.efi lease boot-script:netboot=true kickstart installed lease local-boot:local-boot.efi"
		}
		if got != want {
			t.Errorf("%s (%s): events\n got %s\nwant %s", v.node, v.fw, got, want)
		}
		if n, ok := plan.Node(v.node); !ok {
			t.Errorf("%s: not in the plan", v.node)
		} else if on, err := st.Netboot(n); err != nil || on {
			t.Errorf("%s: netboot on=%v (%v) after the installed callback, want off", v.node, on, err)
		}
	}
}

// dedup drops repeats of the element before (a firmware that asks DHCP
// twice in one boot).
func dedup(s []string) []string {
	var out []string
	for _, x := range s {
		if len(out) == 0 || out[len(out)-1] != x {
			out = append(out, x)
		}
	}
	return out
}

// TestQEMULab: lab nodes that are QEMU VMs (lab up --qemu-node), one
// SeaBIOS with iPXE's ROM, one OVMF (its boot mode set to uefi here),
// are discovered over their simulated iDRACs, PXE-boot over their
// node's cable, install with the VM kit's installer, reboot to their
// disk and reach ready through the installed system the lab runs from
// the kickstart they left on it; nothing else is installed, and lab down
// leaves no VM behind.
func TestQEMULab(t *testing.T) {
	vmKit(t)
	bin := labBinary(t)
	site, state := copySite(t, "staging"), t.TempDir()
	setNodeKeys(t, site, map[string]string{"compute02": "boot_mode = \"uefi\"\n"})
	t.Cleanup(func() { // runs after labUp's lab down
		if out, err := exec.Command("pgrep", "-af", "qemu-system.*-name compute0[12] ").Output(); err == nil {
			t.Errorf("QEMU still running after lab down:\n%s", out)
		}
	})
	labUp(t, bin, site, state, "--qemu-node", "compute01", "--qemu-node", "compute02")
	out, _ := labRun(t, bin, "lab", "status", "--site", site, "--state", state)
	if !regexpLine(out, `^compute01 .* qemu bios`) || !regexpLine(out, `^compute02 .* qemu uefi`) || !regexpLine(out, `^compute03 .* simulated`) {
		t.Fatalf("lab status:\n%s", out)
	}
	out, code := labRun(t, bin, "up", "compute01", "compute02", "--site", site, "--state", state, "--yes", "--stagger", "0", "--retries", "0")
	if code != 0 || !strings.Contains(out, "2 nodes, 2 ready, 0 not") {
		t.Fatalf("up: exit %d\n%s", code, out)
	}
	installs := installsSinceForget(t, state)
	for node, n := range installs {
		want := 0
		if node == "compute01" || node == "compute02" {
			want = 1
		}
		if n != want {
			t.Errorf("%s installed %d times, want %d", node, n, want)
		}
	}
	for _, node := range []string{"compute01", "compute02"} {
		console, err := os.ReadFile(filepath.Join(state, "lab", node+".console"))
		if err != nil || !strings.Contains(string(console), "provision-vm: installed, rebooting") {
			t.Errorf("%s: the console shows no install by the VM (%v)", node, err)
		}
	}
	// A VM caught mid-boot: lab down (the cleanup) must stop it. The
	// boot makes its console afresh.
	if err := os.Remove(filepath.Join(state, "lab", "compute01.console")); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"bmc", "pxe", "compute01"}, {"bmc", "power", "cycle", "compute01"}} {
		if out, code := labRun(t, bin, append(args, "--site", site, "--state", state)...); code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, out)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if _, err := vm.WaitConsole(ctx, filepath.Join(state, "lab", "compute01.console"), 0, "iPXE"); err != nil {
		t.Fatalf("compute01 did not boot again: %v", err)
	}
}
