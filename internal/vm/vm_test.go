package vm

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/provision/provision/internal/netnstest"
)

// kit finds the VM kit for a test, which runs only with PROVISION_QEMU=1
// (make test and make e2e set it, and make vmkit fetches the kit).
func kit(t *testing.T) *Kit {
	t.Helper()
	if os.Getenv("PROVISION_QEMU") == "" {
		t.Skip("set PROVISION_QEMU=1 to run (make e2e)")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Fatalf("PROVISION_QEMU is set but %v", ErrNoQEMU)
	}
	k, err := FindKit(KitDir(os.Getenv))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestFindKitErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := FindKit(dir); err == nil || !strings.Contains(err.Error(), "make vmkit") {
		t.Fatalf("empty dir: %v, want the make vmkit hint", err)
	}
	for _, f := range []string{"vmlinuz", "busybox"} {
		os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644)
	}
	os.Mkdir(filepath.Join(dir, "modules"), 0o755)
	os.WriteFile(filepath.Join(dir, "modules", "order"), []byte("a.ko\n../b.ko\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "modules", "a.ko"), []byte("x"), 0o644)
	_, err := FindKit(dir)
	if err == nil || !strings.Contains(err.Error(), "order:2") {
		t.Fatalf("bad order line: %v, want file:line", err)
	}
}

// TestInitrdArchive unpacks the initrd with cpio (GNU cpio reads newc)
// when it is installed, else checks the archive's framing itself.
func TestInitrdArchive(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"vmlinuz", "busybox"} {
		os.WriteFile(filepath.Join(dir, f), []byte("binary "+f), 0o644)
	}
	os.Mkdir(filepath.Join(dir, "modules"), 0o755)
	os.WriteFile(filepath.Join(dir, "modules", "order"), []byte("one.ko\ntwo.ko\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "modules", "one.ko"), []byte("1"), 0o644)
	os.WriteFile(filepath.Join(dir, "modules", "two.ko"), []byte("22"), 0o644)
	k, err := FindKit(dir)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := k.Initrd(&buf); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for off := 0; off < len(raw); {
		h := string(raw[off : off+110])
		if !strings.HasPrefix(h, "070701") {
			t.Fatalf("offset %d: bad magic %q", off, h[:6])
		}
		var size, namesize int
		fmt.Sscanf(h[54:62], "%x", &size)
		fmt.Sscanf(h[94:102], "%x", &namesize)
		name := string(raw[off+110 : off+110+namesize-1])
		off += (110 + namesize + 3) &^ 3
		got[name] = string(raw[off : off+size])
		off += (size + 3) &^ 3
		if name == "TRAILER!!!" {
			if off != len(raw) {
				t.Fatalf("%d bytes after the trailer", len(raw)-off)
			}
			break
		}
	}
	for name, want := range map[string]string{"bin/busybox": "binary busybox", "lib/modules/one.ko": "1",
		"lib/modules/two.ko": "22", "lib/modules/order": "one.ko\ntwo.ko\n"} {
		if got[name] != want {
			t.Errorf("%s = %q, want %q", name, got[name], want)
		}
	}
	if !strings.HasPrefix(got["init"], "#!/bin/busybox sh") {
		t.Errorf("init = %.40q", got["init"])
	}
}

// TestQEMUInstaller boots the kit's kernel and initrd directly in a VM
// whose NIC is a tap in a namespace this test makes, against an HTTP
// server standing in for the appliance: the installer must configure
// its NIC from ip=, fetch the kickstart with its token, read the install
// tree's .treeinfo, post "installing" then "installed" with the token,
// and reboot.
func TestQEMUInstaller(t *testing.T) {
	k := kit(t)
	ns := netnstest.New(t)
	if err := AddTap(t.Context(), ns.Name, "tap0", ""); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ip", "-n", ns.Name, "addr", "add", "10.77.0.1/24", "dev", "tap0").CombinedOutput(); err != nil {
		t.Fatalf("ip addr: %v: %s", err, out)
	}
	var (
		mu     sync.Mutex
		events []string
		got    = make(chan string, 8)
	)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/nodes/vm1/kickstart", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("token") != "s3cret" {
			http.Error(w, "token", http.StatusForbidden)
			return
		}
		io.WriteString(w, "install\ntext\nurl --url=http://10.77.0.1/images/centos-6.5\n%pre\n%end\n")
	})
	mux.HandleFunc("GET /images/centos-6.5/.treeinfo", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "[general]\nfamily = CentOS\n")
	})
	mux.HandleFunc("POST /api/v1/nodes/vm1/events", func(w http.ResponseWriter, r *http.Request) {
		var ev struct{ State, Message string }
		if r.Header.Get("Authorization") != "Bearer s3cret" || json.NewDecoder(r.Body).Decode(&ev) != nil {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		mu.Lock()
		events = append(events, ev.State)
		mu.Unlock()
		got <- ev.State
	})
	var ln net.Listener
	if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp", "10.77.0.1:80"); return err }); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln) // ends when the cleanup closes the server
	t.Cleanup(func() { srv.Close() })

	dir := t.TempDir()
	initrd := filepath.Join(dir, "initrd.img")
	f, err := os.Create(initrd)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Initrd(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	serial := filepath.Join(dir, "console.log")
	disk := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(disk, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadDisk(disk); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("blank disk: %v, want ErrNotInstalled", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd, err := Command(ctx, Config{Name: "vm1", MAC: "52:54:00:77:00:02", Tap: "tap0", Serial: serial, Namespace: ns.Name, Disk: disk,
		Direct: &Direct{Kernel: k.Kernel, Initrd: initrd, Append: "console=ttyS0 quiet " +
			"ks=http://10.77.0.1/api/v1/nodes/vm1/kickstart?token=s3cret BOOTIF=01-52-54-00-77-00-02 " +
			"ip=10.77.0.2 netmask=255.255.255.0 gateway=10.77.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if _, err := WaitConsole(ctx, serial, 0, "provision-vm: installed, rebooting", "provision-vm: install stopped"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(events, ",") != "installing,installed" {
		t.Fatalf("callbacks %v, want installing then installed", events)
	}
	ks, err := ReadDisk(disk)
	if err != nil || !strings.HasPrefix(string(ks), "install\ntext\n") {
		t.Errorf("disk: %q, %v; want the kickstart", ks, err)
	}
	out, _ := os.ReadFile(serial)
	for _, want := range []string{"provision-vm: network: eth0 52:54:00:77:00:02 10.77.0.2", "provision-vm: kickstart:", "provision-vm: install tree: http://10.77.0.1/images/centos-6.5"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("console lacks %q", want)
		}
	}
}
