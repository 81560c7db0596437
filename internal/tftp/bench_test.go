package tftp

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	pintftp "github.com/pin/tftp/v3"
	"github.com/provision/provision/internal/proctest"
)

// Benchmarks over loopback, every figure against this server and, when
// it is there, tftpd-hpa in the same run, each iteration measuring both.
//
//	go test ./internal/tftp -run '^$' -bench . -benchtime 3x
//
// tftpd-hpa is found as $TFTPD_HPA, else in.tftpd on $PATH or in
// /usr/sbin; without it only this server is measured.

const (
	bigFile   = "centos-6.5/images/install.img" // 32 MiB
	bigSize   = 32 << 20
	smallFile = "centos-6.5/images/pxeboot/initrd.img" // 2 MiB
	smallSize = 2 << 20
)

// benchServer is a server under test: its address, and the CPU time it
// has used so far (nil when it cannot be counted).
type benchServer struct {
	addr string
	cpu  func() time.Duration
}

// benchServers serves a directory with the two files from this server
// (in this process) and from tftpd-hpa, by name.
func benchServers(b *testing.B) map[string]benchServer {
	b.Helper()
	dir := b.TempDir()
	// tftpd-hpa drops to user nobody, who must reach the files.
	if err := os.Chmod(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	for name, size := range map[string]int{bigFile: bigSize, smallFile: smallSize} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i ^ i>>9)
		}
		full := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(full, data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { root.Close() })
	self := os.Getpid()
	// The test process: the server, and the benchmark waiting for its
	// client (a curl child's CPU is not counted). The servers take
	// turns, so each turn's CPU is that server's.
	cpu := func() time.Duration { return processCPU(b, self, false) }
	servers := map[string]benchServer{
		"provision": {addr: serve(b, &Server{Routes: []Route{Tree("trees", "", root)}}).addr, cpu: cpu},
		// This server without its lane: every transfer in pin/tftp's loop.
		"pintftp": {addr: serve(b, &Server{Routes: []Route{Tree("trees", "", root)}, noLane: true}).addr, cpu: cpu},
	}
	if addr, cpu := startTftpdHPA(b, dir); addr != "" {
		servers["tftpd-hpa"] = benchServer{addr: addr, cpu: cpu}
	}
	return servers
}

func processCPU(b *testing.B, pid int, children bool) time.Duration {
	d, err := proctest.CPU(pid, children)
	if err != nil {
		b.Fatalf("server CPU time: %v", err)
	}
	return d
}

// startTftpdHPA runs tftpd-hpa in the foreground on a free loopback port
// and waits until it answers; it returns its address, or "" when
// tftpd-hpa is missing, and the CPU time it and its per-transfer
// processes have used (counted in a cgroup, which needs root; nil
// without).
func startTftpdHPA(b *testing.B, dir string) (string, func() time.Duration) {
	bin := os.Getenv("TFTPD_HPA")
	if bin == "" {
		bin, _ = exec.LookPath("in.tftpd")
	}
	if bin == "" {
		if _, err := os.Stat("/usr/sbin/in.tftpd"); err == nil {
			bin = "/usr/sbin/in.tftpd"
		}
	}
	if bin == "" {
		b.Log("tftpd-hpa not found: set TFTPD_HPA or install tftpd-hpa to compare")
		return "", nil
	}
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := c.LocalAddr().String()
	c.Close()
	cmd := exec.Command(bin, "-L", "-a", addr, "-s", dir, "-u", "nobody", "-B", "1468")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	var cpu func() time.Duration
	if g, err := proctest.NewCPUGroup(fmt.Sprintf("provision-bench-tftpd-%d", cmd.Process.Pid)); err != nil {
		b.Logf("tftpd-hpa's CPU not counted: %v", err)
	} else if err := g.Add(cmd.Process.Pid); err != nil {
		b.Logf("tftpd-hpa's CPU not counted: %v", err)
		g.Remove()
	} else {
		cpu = g.Counter(b, "tftpd-hpa")
		b.Cleanup(func() {
			// After the kill below.
			if err := g.Remove(); err != nil {
				b.Error(err)
			}
		})
	}
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := pintftp.NewClient(addr)
		if err != nil {
			b.Fatal(err)
		}
		c.SetTimeout(100 * time.Millisecond)
		c.SetRetries(1)
		if _, err = c.Receive(smallFile, "octet"); err == nil {
			return addr, cpu
		}
		if time.Now().After(deadline) {
			b.Fatalf("tftpd-hpa at %s does not answer: %v", addr, err)
		}
	}
}

func goFetch(addr, name string, blksize int) (int64, error) {
	c, err := pintftp.NewClient(addr)
	if err != nil {
		return 0, err
	}
	c.SetBlockSize(blksize)
	wt, err := c.Receive(name, "octet")
	if err != nil {
		return 0, err
	}
	return wt.WriteTo(io.Discard)
}

func curlFetch(addr, name string, size, blksize int) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "curl", "-sS", "-o", "/dev/null", "-w", "%{size_download}",
		"--tftp-blksize", fmt.Sprint(blksize), "tftp://"+addr+"/"+name).CombinedOutput()
	if err != nil || string(out) != fmt.Sprint(size) {
		return fmt.Errorf("curl: %v: %s", err, out)
	}
	return nil
}

// order lists the servers in the order they are measured.
func order(servers map[string]benchServer) []string {
	if _, ok := servers["tftpd-hpa"]; ok {
		return []string{"provision", "pintftp", "tftpd-hpa"}
	}
	return []string{"provision", "pintftp"}
}

// turns runs one iteration of each server's work per b.Loop iteration,
// the servers taking turns (first one, then the other) so that the load
// of a shared machine falls on both alike, and returns the time each
// server's work took in all and the CPU time the server used meanwhile
// (for those whose CPU is counted).
func turns(b *testing.B, servers map[string]benchServer, work func(addr string) error) (took, cpu map[string]time.Duration) {
	list := order(servers)
	took, cpu = map[string]time.Duration{}, map[string]time.Duration{}
	for b.Loop() {
		for _, name := range list {
			srv := servers[name]
			var c0 time.Duration
			if srv.cpu != nil {
				c0 = srv.cpu()
			}
			start := time.Now()
			if err := work(srv.addr); err != nil {
				b.Fatalf("%s: %v", name, err)
			}
			took[name] += time.Since(start)
			if srv.cpu != nil {
				cpu[name] += srv.cpu() - c0
			}
		}
		slices.Reverse(list)
	}
	return took, cpu
}

// reportCPU reports each server's CPU time per DATA block sent, for
// curl as the client (the Go client runs in this server's process).
func reportCPU(b *testing.B, cpu map[string]time.Duration, blocks int) {
	for server, d := range cpu {
		b.ReportMetric(float64(d.Microseconds())/float64(b.N*blocks), server+"-us/block")
	}
}

// blocks is how many DATA packets a file of size takes at blksize (the
// last one short, or empty).
func blocks(size, blksize int) int { return size/blksize + 1 }

// BenchmarkTransfer32MiB fetches a 32 MiB file with Debian's curl and
// with the pin/tftp client as the peer, from this server, this server
// without its lane (pintftp) and tftpd-hpa in turns: provision-MB/s,
// pintftp-MB/s and tftpd-hpa-MB/s are their throughputs, x-tftpd-hpa
// this server's ratio to tftpd-hpa (the target: >= 1).
func BenchmarkTransfer32MiB(b *testing.B) {
	servers := benchServers(b)
	_, haveCurl := exec.LookPath("curl")
	for _, client := range []string{"curl", "go"} {
		for _, blksize := range []int{512, 1468} {
			b.Run(fmt.Sprintf("client=%s/blksize=%d", client, blksize), func(b *testing.B) {
				if client == "curl" && haveCurl != nil {
					b.Skip("curl not installed")
				}
				total, cpu := turns(b, servers, func(addr string) error {
					if client == "curl" {
						return curlFetch(addr, bigFile, bigSize, blksize)
					}
					if n, err := goFetch(addr, bigFile, blksize); err != nil || n != bigSize {
						return fmt.Errorf("got %d bytes: %v", n, err)
					}
					return nil
				})
				mbs := map[string]float64{}
				for server, d := range total {
					mbs[server] = float64(b.N) * bigSize / d.Seconds() / 1e6
					b.ReportMetric(mbs[server], server+"-MB/s")
				}
				if mbs["tftpd-hpa"] > 0 {
					b.ReportMetric(mbs["provision"]/mbs["tftpd-hpa"], "x-tftpd-hpa")
				}
				if client == "curl" {
					reportCPU(b, cpu, blocks(bigSize, blksize))
				}
			})
		}
	}
}

// BenchmarkConcurrent200x2MiB fetches a 2 MiB file 200 times at once
// (a rack booting) at blksize 1468, from this server and tftpd-hpa in
// turns; provision-s and tftpd-hpa-s are the seconds until the last of
// the 200 transfers ends. With client=curl the peers are 200 processes,
// outside the server's process for both servers; with client=go they are
// goroutines sharing this server's process and its 2 cores, which
// handicaps it against tftpd-hpa.
func BenchmarkConcurrent200x2MiB(b *testing.B) {
	servers := benchServers(b)
	_, haveCurl := exec.LookPath("curl")
	for _, client := range []string{"curl", "go"} {
		b.Run("client="+client, func(b *testing.B) {
			if client == "curl" && haveCurl != nil {
				b.Skip("curl not installed")
			}
			fetch := func(addr string) error {
				if client == "curl" {
					return curlFetch(addr, smallFile, smallSize, 1468)
				}
				if n, err := goFetch(addr, smallFile, 1468); err != nil || n != smallSize {
					return fmt.Errorf("got %d bytes: %v", n, err)
				}
				return nil
			}
			total, cpu := turns(b, servers, func(addr string) error {
				var wg sync.WaitGroup
				errs := make(chan error, 200)
				for range 200 {
					wg.Go(func() {
						if err := fetch(addr); err != nil {
							errs <- err
						}
					})
				}
				wg.Wait()
				close(errs)
				return <-errs // nil when none failed
			})
			for server, d := range total {
				b.ReportMetric(d.Seconds()/float64(b.N), server+"-s")
			}
			if total["tftpd-hpa"] > 0 {
				// Above 1: this server is faster.
				b.ReportMetric(total["tftpd-hpa"].Seconds()/total["provision"].Seconds(), "x-tftpd-hpa")
			}
			if client == "curl" {
				reportCPU(b, cpu, 200*blocks(smallSize, 1468))
			}
		})
	}
}
