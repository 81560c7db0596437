package tftp

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	pintftp "github.com/pin/tftp/v3"
)

// BenchmarkTransfer32MiB fetches a 32 MiB install-tree file over
// loopback, with Debian's curl and with the pin/tftp client as the peer,
// in the same run. MB/s is the throughput.
//
//	go test ./internal/tftp -run '^$' -bench Transfer32MiB -benchtime 3x
func BenchmarkTransfer32MiB(b *testing.B) {
	const size = 32 << 20
	dir := b.TempDir()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i ^ i>>9)
	}
	if err := os.MkdirAll(filepath.Join(dir, "centos-6.5/images"), 0o755); err != nil {
		b.Fatal(err)
	}
	const name = "centos-6.5/images/install.img"
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		b.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer root.Close()
	ts := serve(b, &Server{Routes: []Route{Tree("trees", "", root)}})
	for _, blksize := range []int{512, 1468} {
		b.Run(fmt.Sprintf("curl/blksize=%d", blksize), func(b *testing.B) {
			if _, err := exec.LookPath("curl"); err != nil {
				b.Skip("curl not installed")
			}
			b.SetBytes(size)
			for b.Loop() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				out, err := exec.CommandContext(ctx, "curl", "-sS", "-o", "/dev/null", "-w", "%{size_download}",
					"--tftp-blksize", fmt.Sprint(blksize), "tftp://"+ts.addr+"/"+name).CombinedOutput()
				cancel()
				if err != nil || string(out) != fmt.Sprint(size) {
					b.Fatalf("curl: %v: %s", err, out)
				}
			}
		})
		b.Run(fmt.Sprintf("go/blksize=%d", blksize), func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				c, err := pintftp.NewClient(ts.addr)
				if err != nil {
					b.Fatal(err)
				}
				c.SetBlockSize(blksize)
				wt, err := c.Receive(name, "octet")
				if err != nil {
					b.Fatal(err)
				}
				n, err := wt.WriteTo(io.Discard)
				if err != nil || n != size {
					b.Fatalf("got %d bytes: %v", n, err)
				}
			}
		})
	}
}
