package simnode

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/provision/provision/internal/netnstest"
	"github.com/provision/provision/internal/store"
)

// BenchmarkInstall times one simulated install of compute01 with no
// install time, from power-on (the node process started) to the
// "installed" callback and to sshd listening after the reboot, over real
// sockets between namespaces. It reports the appliance side's CPU (this
// process: the DHCP, TFTP and HTTP servers, kickstart rendering, the
// state store) and the node's (its process and the ip, bash and sshd it
// ran) per install.
func BenchmarkInstall(b *testing.B) {
	l := newLab(b)
	// The host keys are made once per node, before its first install.
	if _, err := l.keys.KickstartInputs(nodeName, l.site.Secrets); err != nil {
		b.Fatal(err)
	}
	root := b.TempDir()
	var toInstalled, toSSH, appCPU, nodeCPU time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		if err := l.store.SetFlag(nodeName, store.FlagNetboot, true); err != nil {
			b.Fatal(err)
		}
		before := selfCPU(b)
		b.StartTimer()
		start := time.Now()
		p := startNode(b, l.node, nodeSpec{RootDir: root, PXE: true})
		l.waitEvent(b, "installed", i+1)
		toInstalled += time.Since(start)
		p.waitStep(b, "sshd", "listening")
		toSSH += time.Since(start)
		b.StopTimer()
		appCPU += selfCPU(b) - before
		p.powerOff(b)
		nodeCPU += p.cmd.ProcessState.UserTime() + p.cmd.ProcessState.SystemTime()
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(float64(toInstalled.Milliseconds())/n, "ms-to-installed/op")
	b.ReportMetric(float64(toSSH.Milliseconds())/n, "ms-to-ssh/op")
	b.ReportMetric(float64(appCPU.Microseconds())/1000/n, "appliance-cpu-ms/op")
	b.ReportMetric(float64(nodeCPU.Microseconds())/1000/n, "node-cpu-ms/op")
}

// selfCPU is this process's user and system CPU time so far.
func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFleetInstall installs every node of the paper site but the
// appliance (26) at once, each in its namespace on a bridge of the
// appliance's, as the lab does, with no install time and with the lab
// target's 5 s. It reports the wall time until every node has called back
// "installed" and until every sshd listens, and the appliance's and the
// nodes' CPU per node.
func BenchmarkFleetInstall(b *testing.B) {
	for _, d := range []time.Duration{0, 5 * time.Second} {
		b.Run("install="+d.String(), func(b *testing.B) { benchFleet(b, d) })
	}
}

func benchFleet(b *testing.B, installTime time.Duration) {
	l, nss := newFleet(b)
	for name := range l.macs {
		if _, err := l.keys.KickstartInputs(name, l.site.Secrets); err != nil {
			b.Fatal(err)
		}
	}
	roots := map[string]string{}
	for name := range l.macs {
		roots[name] = b.TempDir()
	}
	nodes := len(l.macs)
	var toInstalled, toSSH, appCPU, nodeCPU time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		for name := range l.macs {
			if err := l.store.SetFlag(name, store.FlagNetboot, true); err != nil {
				b.Fatal(err)
			}
		}
		before := selfCPU(b)
		b.StartTimer()
		start := time.Now()
		procs := map[string]*nodeProc{}
		for name, mac := range l.macs {
			procs[name] = startNode(b, nss[name], nodeSpec{Node: name, MAC: mac, RootDir: roots[name], PXE: true, InstallTime: installTime})
		}
		l.waitAll(b, "installed", (i+1)*nodes)
		toInstalled += time.Since(start)
		for _, p := range procs {
			p.waitStep(b, "sshd", "listening")
		}
		toSSH += time.Since(start)
		b.StopTimer()
		appCPU += selfCPU(b) - before
		for _, p := range procs {
			p.powerOff(b)
			nodeCPU += p.cmd.ProcessState.UserTime() + p.cmd.ProcessState.SystemTime()
		}
		b.StartTimer()
	}
	n, per := float64(b.N), float64(b.N*nodes)
	b.ReportMetric(toInstalled.Seconds()/n, "s-to-all-installed/op")
	b.ReportMetric(toSSH.Seconds()/n, "s-to-all-ssh/op")
	b.ReportMetric(float64(appCPU.Microseconds())/1000/per, "appliance-cpu-ms/node")
	b.ReportMetric(float64(nodeCPU.Microseconds())/1000/per, "node-cpu-ms/node")
}

// newFleet makes a namespace per node of the paper site but the
// appliance, each joined by a veth pair to a bridge in the appliance's
// namespace that holds the appliance's address.
func newFleet(b *testing.B) (*lab, map[string]*netnstest.NS) {
	b.Helper()
	netnstest.Require(b)
	app := os.Getenv(appNSEnv)
	if app == "" {
		b.Skip("needs TestMain's appliance namespace (run as root with iproute2)")
	}
	const bridge = "pv-br"
	l := &lab{app: &netnstest.NS{Name: app}, appIf: bridge, macs: map[string]string{}}
	plan, _ := loadPlan(b)
	run := func(args ...string) {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			b.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	run("link", "add", bridge, "type", "bridge")
	b.Cleanup(func() { _ = exec.Command("ip", "link", "del", bridge).Run() })
	run("addr", "add", appAddr, "dev", bridge)
	run("link", "set", bridge, "up")
	nss := map[string]*netnstest.NS{}
	for i, n := range plan.Nodes {
		if n.Appliance {
			continue
		}
		mac := fmt.Sprintf("52:54:00:5e:01:%02x", i)
		ns := netnstest.New(b)
		port := fmt.Sprintf("pvb-%d", i)
		run("link", "add", "name", port, "type", "veth", "peer", "name", nodeIf, "netns", ns.Name)
		b.Cleanup(func() { _ = exec.Command("ip", "link", "del", port).Run() })
		run("-n", ns.Name, "link", "set", nodeIf, "address", mac)
		run("-n", ns.Name, "link", "set", nodeIf, "up")
		run("link", "set", port, "master", bridge)
		run("link", "set", port, "up")
		l.macs[n.Name], nss[n.Name] = mac, ns
	}
	l.start(b, nil)
	return l, nss
}
