package httpd

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBenchCurl measures, in one run with curl as the peer, boot scripts
// per second and install-tree throughput. It runs only with
// PROVISION_BENCH=1 (make bench); figures go to the test log.
//
//	PROVISION_BENCH=1 go test ./internal/httpd -run TestBenchCurl -v
func TestBenchCurl(t *testing.T) {
	if os.Getenv("PROVISION_BENCH") == "" {
		t.Skip("set PROVISION_BENCH=1 to run")
	}
	bin, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed")
	}
	e := start(t)
	const n = 5000
	url := e.base + "/boot.ipxe?mac=52:54:00:00:00:40"
	cfg := filepath.Join(t.TempDir(), "urls")
	var b strings.Builder
	for range n {
		fmt.Fprintf(&b, "url = %q\noutput = \"/dev/null\"\n", url)
	}
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []struct {
		name string
		args []string
	}{
		{"one connection, keep-alive", nil},
		{"8 parallel connections", []string{"--parallel", "--parallel-max", "8"}},
	} {
		args := append([]string{"-sS", "--fail", "--interface", nodeAddr, "-K", cfg}, mode.args...)
		start := time.Now()
		if out, err := exec.CommandContext(t.Context(), bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("curl: %v\n%s", err, out)
		}
		d := time.Since(start)
		t.Logf("BENCH /boot.ipxe, %s: %d requests in %v = %.0f requests/s", mode.name, n, d.Round(time.Millisecond), n/d.Seconds())
	}

	// A 1 GiB sparse file: the figure is the server's path (ServeContent,
	// sendfile), not the disk's.
	const size = 1 << 30
	path := filepath.Join(e.images, "centos-6.5", "images", "big.img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for i := range 3 {
		out, err := exec.CommandContext(t.Context(), bin, "-sS", "--fail", "--interface", nodeAddr, "-o", "/dev/null",
			"-w", "%{speed_download} %{size_download}", e.base+"/images/centos-6.5/images/big.img").Output()
		if err != nil {
			t.Fatalf("curl: %v", err)
		}
		fields := strings.Fields(string(out))
		speed, _ := strconv.ParseFloat(fields[0], 64)
		if fields[1] != strconv.Itoa(size) {
			t.Fatalf("downloaded %s bytes, want %d", fields[1], size)
		}
		t.Logf("BENCH /images 1 GiB file, run %d: %.0f MB/s", i+1, speed/1e6)
	}
}

// BenchmarkBootScript is the in-process figure for /boot.ipxe over
// loopback with Go's client (one keep-alive connection), with each
// request's event appended to the bbolt store (a committed, fsynced
// transaction, as in production) and, for comparison, kept in memory.
func BenchmarkBootScript(b *testing.B) {
	e := start(b)
	c := clientFrom(nodeAddr)
	url := e.base + "/boot.ipxe?mac=52:54:00:00:00:40"
	st := e.ev.st
	for _, mode := range []string{"events-to-store", "events-in-memory"} {
		b.Run(mode, func(b *testing.B) {
			// Set between requests: the server reads it only while
			// serving one.
			e.ev.st = st
			if mode == "events-in-memory" {
				e.ev.st = nil
			}
			for b.Loop() {
				resp, err := c.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}
