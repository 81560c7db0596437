// Package servetest runs an appliance on loopback, as `provision serve`
// does, for the tests of the parts it serves (external test packages:
// the appliance imports those parts). Only tests import it.
package servetest

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/provision/provision/internal/appliance"
	"github.com/provision/provision/internal/sitetest"
)

// TreeFile is a file Serve puts in the appliance's install trees,
// served as /images/TreeFile, with TreeFileContent.
const (
	TreeFile        = "centos-6.5/Packages/hello-1.0-1.x86_64.rpm"
	TreeFileContent = "an RPM's bytes\n"
)

// Serve runs an appliance of sites/NAME.toml on 127.0.0.1 as `provision
// serve` does (a fresh state, no DHCP, no profile handoff, HTTP and TFTP
// on free ports, the operator surfaces enabled) until the test ends. It
// returns the appliance, its state directory and its HTTP base URL.
func Serve(t testing.TB, name string) (ap *appliance.Appliance, state, url string) {
	t.Helper()
	site := sitetest.Copy(t, name)
	state = filepath.Join(filepath.Dir(site), "state")
	// A file in the install trees' directory, as an import leaves one:
	// HTTP serves /images/ (TreeFile).
	tree := filepath.Join(state, "images", filepath.Dir(TreeFile))
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(state, "images", TreeFile), []byte(TreeFileContent), 0o644); err != nil {
		t.Fatal(err)
	}
	ap, err := appliance.Open(appliance.Config{SiteFile: site, StateDir: state,
		Addr: netip.MustParseAddr("127.0.0.1"), NoDHCP: true, NoHandoff: true}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ap.Servers()
	if err != nil {
		ap.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		ap.Close()
		t.Fatal(err)
	}
	srv.HTTP.Listener, srv.HTTP.Addr = ln, ln.Addr().String()
	srv.TFTP.Addr = "127.0.0.1:0"
	unrecord, err := ap.EnableControl(ctx, srv)
	if err != nil {
		cancel()
		ln.Close()
		ap.Close()
		t.Fatal(err)
	}
	wait, err := srv.Start(ctx)
	if err != nil {
		cancel()
		unrecord()
		ap.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := wait(); err != nil {
			t.Errorf("servers: %v", err)
		}
		unrecord()
		ap.Close()
	})
	return ap, state, "http://" + srv.HTTP.Addr
}
