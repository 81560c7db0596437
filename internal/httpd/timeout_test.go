package httpd

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/provision/provision/provision"
)

// TestSlowHeaders: a client that never finishes its request headers is
// cut off after ReadHeaderTimeout (here shortened), instead of holding a
// connection forever: by net/http, and by the install-tree lane for a
// head that could still be a plain GET of a file, or no head at all.
func TestSlowHeaders(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	plan := testPlan(t, "http://"+ln.Addr().String())
	root, err := os.OpenRoot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	srv := &Server{
		Listener:  ln,
		Plan:      func() *provision.Plan { return plan },
		Flags:     memFlags{},
		Tokens:    fixedTokens{},
		Kickstart: fakeKickstart,
		Images:    root,
		Timeouts:  Timeouts{ReadHeader: 200 * time.Millisecond},
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()

	for _, head := range []string{
		"GET /healthz HTTP/1.1\r\nHost: x\r\n",                     // net/http's
		"GET /images/centos-6.5/.treeinfo HTTP/1.1\r\nHost: x\r\n", // the lane's, still reading
		"GET /ima", // the lane's
		"",         // nothing sent
	} {
		t.Run(fmt.Sprintf("%q", head), func(t *testing.T) {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, head); err != nil {
				t.Fatal(err)
			}
			// The deadline only bounds the test; the server must close first.
			start := time.Now()
			_ = c.SetReadDeadline(start.Add(10 * time.Second))
			b, err := io.ReadAll(c)
			if err != nil {
				t.Fatalf("connection not closed by the server: %v (read %q)", err, b)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("closed after %v", d)
			}
		})
	}
}
