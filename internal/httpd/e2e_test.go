package httpd

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/provision/provision/internal/store"
	"github.com/provision/provision/kickstart"
)

// TestInstallThenLocalBoot walks one install over real sockets the way a
// node does: its iPXE script, the kernel and initrd named in it, the
// kickstart at the ks= URL, the "installed" callback; then its next boot
// script must boot the local disk, the kickstart is refused, and the
// netboot flag is off in the store as reopened from disk.
func TestInstallThenLocalBoot(t *testing.T) {
	e := start(t)
	tok := e.token(t, nodeName)
	script := "/boot.ipxe?mac=52:54:00:00:00:40"

	code, body := do(t, nodeAddr, "GET", e.base+script, nil, "")
	if code != 200 || !strings.Contains(body, "kernel ") {
		t.Fatalf("first boot script: %d\n%s", code, body)
	}
	kernel := regexp.MustCompile(`(?m)^kernel (\S+) `).FindStringSubmatch(body)
	initrd := regexp.MustCompile(`(?m)^initrd --name initrd.img (\S+) `).FindStringSubmatch(body)
	ks := regexp.MustCompile(` ks=(\S+) `).FindStringSubmatch(body)
	if kernel == nil || initrd == nil || ks == nil {
		t.Fatalf("script lacks kernel, initrd or ks=:\n%s", body)
	}
	for url, want := range map[string]string{kernel[1]: "kernel-bytes", initrd[1]: "initrd-bytes", ks[1]: "# kickstart of " + nodeName} {
		if code, got := do(t, nodeAddr, "GET", url, nil, ""); code != 200 || got != want && !strings.HasPrefix(got, want) {
			t.Fatalf("GET %s: %d %q", strings.SplitN(url, "?", 2)[0], code, clipBody(got))
		}
	}

	events := kickstart.EventsURL(e.plan, e.plan.Nodes[0])
	events = strings.Replace(events, "/"+e.plan.Nodes[0].Name+"/", "/"+nodeName+"/", 1)
	hdr := map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "application/json"}
	if code, got := do(t, nodeAddr, "POST", events, hdr, `{"state":"installed","message":"done"}`); code != 200 {
		t.Fatalf("installed callback: %d %s", code, got)
	}
	// The 200 came after the flag was committed: no waiting needed.
	if on, set, err := e.store.Flag(nodeName, store.FlagNetboot); err != nil || !set || on {
		t.Fatalf("netboot flag after installed: on=%v set=%v err=%v", on, set, err)
	}

	code, body = do(t, nodeAddr, "GET", e.base+script, nil, "")
	if code != 200 || strings.Contains(body, "kernel") || !strings.Contains(body, "sanboot --no-describe --drive 0x80 || exit") {
		t.Fatalf("boot script after install: %d\n%s", code, body)
	}
	if code, _ := do(t, nodeAddr, "GET", ks[1], nil, ""); code != 403 {
		t.Fatalf("kickstart after install: %d, want 403", code)
	}

	e.stop()
	st, err := store.Open(e.state, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if on, set, err := st.Flag(nodeName, store.FlagNetboot); err != nil || !set || on {
		t.Fatalf("netboot flag after reopen: on=%v set=%v err=%v", on, set, err)
	}
	evs, err := st.Events(store.Filter{Node: nodeName, Kind: KindInstalled})
	if err != nil || len(evs) != 1 || evs[0].Attrs["netboot"] != "off" || evs[0].Msg != "done" {
		t.Fatalf("installed events: %+v %v", evs, err)
	}
	kinds := map[string]int{}
	all, _ := st.Events(store.Filter{Node: nodeName})
	for _, ev := range all {
		kinds[ev.Kind]++
	}
	if kinds["boot-script"] != 2 || kinds["kickstart"] != 1 || kinds["refused"] != 1 {
		t.Errorf("events by kind: %v", kinds)
	}
}
