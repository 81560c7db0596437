package httpd

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// curl runs curl from a loopback source address and returns what it
// printed for -w plus the body it saved.
func curl(t *testing.T, from string, args ...string) (string, []byte) {
	t.Helper()
	bin, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed (Debian: curl)")
	}
	out := filepath.Join(t.TempDir(), "body")
	args = append([]string{"-sS", "--interface", from, "-o", out, "-w", "%{http_code} %{size_download}"}, args...)
	cmd := exec.CommandContext(t.Context(), bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	w, err := cmd.Output()
	if err != nil {
		t.Fatalf("curl %v: %v\n%s", args, err, stderr.String())
	}
	body, _ := os.ReadFile(out)
	return string(w), body
}

// TestCurlPeer uses curl as the node: Range requests on an install-tree
// file, the kickstart refusals, and the installer's callback as the
// kickstart's report function sends it.
func TestCurlPeer(t *testing.T) {
	e := start(t)
	tok := e.token(t, nodeName)
	big := e.base + "/images/centos-6.5/images/install.img"
	want, err := os.ReadFile(filepath.Join(e.images, "centos-6.5/images/install.img"))
	if err != nil {
		t.Fatal(err)
	}
	ks := e.base + "/api/v1/nodes/" + nodeName + "/kickstart"
	cb := e.base + "/api/v1/nodes/" + nodeName + "/events"

	t.Run("range", func(t *testing.T) {
		w, body := curl(t, nodeAddr, "-r", "1000-1999", big)
		if w != "206 1000" || !bytes.Equal(body, want[1000:2000]) {
			t.Fatalf("range 1000-1999: %q, body ok %v", w, bytes.Equal(body, want[1000:2000]))
		}
		w, body = curl(t, nodeAddr, "-r", "-10", big)
		if w != "206 10" || !bytes.Equal(body, want[len(want)-10:]) {
			t.Fatalf("suffix range: %q", w)
		}
		w, body = curl(t, nodeAddr, "-r", "0-4,10-14", big)
		if !strings.HasPrefix(w, "206 ") || !bytes.Contains(body, want[10:15]) {
			t.Fatalf("multi-range: %q", w)
		}
		if w, _ := curl(t, nodeAddr, "-r", "99999999-", big); !strings.HasPrefix(w, "416") {
			t.Fatalf("range past the end: %q", w)
		}
		w, body = curl(t, nodeAddr, big)
		if w != "200 8388608" || !bytes.Equal(body, want) {
			t.Fatalf("whole file: %q", w)
		}
		// The whole file was the install-tree lane's to send.
		if !strings.Contains(e.logText(), "path=centos-6.5/images/install.img ip="+nodeAddr+" range=false lane=true") {
			t.Errorf("no lane answer in the log:\n%s", e.logText())
		}
	})
	t.Run("resume", func(t *testing.T) {
		w, body := curl(t, nodeAddr, "-C", "4194304", big)
		if w != "206 4194304" || !bytes.Equal(body, want[4194304:]) {
			t.Fatalf("resume: %q", w)
		}
	})
	t.Run("traversal", func(t *testing.T) {
		for _, p := range []string{"/images/../../../../etc/passwd", "/images/%2e%2e/%2e%2e/etc/passwd", "/images/centos-6.5/escape", "/images//etc/passwd"} {
			w, body := curl(t, nodeAddr, "--path-as-is", e.base+p)
			if strings.HasPrefix(w, "200") || bytes.Contains(body, []byte("root:")) || bytes.Contains(body, []byte("outside the root")) {
				t.Errorf("%s: %q %q", p, w, clipBody(string(body)))
			}
		}
	})
	t.Run("kickstart refused", func(t *testing.T) {
		for _, c := range []struct{ name, from, url string }{
			{"other address with token", otherIP, ks + "?token=" + tok},
			{"own address without token", nodeAddr, ks},
			{"own address, wrong token", nodeAddr, ks + "?token=" + strings.Repeat("0", len(tok))},
		} {
			w, body := curl(t, c.from, c.url)
			if !strings.HasPrefix(w, "403") || bytes.Contains(body, []byte("kickstart of")) {
				t.Errorf("%s: %q", c.name, w)
			}
		}
		if w, body := curl(t, nodeAddr, "-H", "X-RHN-Provisioning-MAC-0: eth0 52:54:00:00:00:40", ks+"?token="+tok); w[:3] != "200" || !bytes.Contains(body, []byte("kickstart of "+nodeName)) {
			t.Errorf("own address with token: %q", w)
		}
	})
	t.Run("installed callback", func(t *testing.T) {
		hdr := []string{"-H", "Content-Type: application/json", "-H", "Authorization: Bearer " + tok}
		if w, _ := curl(t, otherIP, append(hdr, "-d", `{"state":"installed","message":""}`, cb)...); !strings.HasPrefix(w, "403") {
			t.Fatalf("callback from another address: %q", w)
		}
		if w, _ := curl(t, nodeAddr, append(hdr, "-d", `{"state":"installed","message":"post done"}`, cb)...); !strings.HasPrefix(w, "200") {
			t.Fatalf("callback: %q", w)
		}
		w, body := curl(t, nodeAddr, e.base+"/boot.ipxe?mac=52:54:00:00:00:40")
		if !strings.HasPrefix(w, "200") || !bytes.Contains(body, []byte("boots from its local disk")) {
			t.Fatalf("boot script after installed: %q\n%s", w, body)
		}
	})
}
