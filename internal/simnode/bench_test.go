package simnode

import (
	"syscall"
	"testing"
	"time"

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
