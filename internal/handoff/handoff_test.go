package handoff

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/provision/provision/internal/hostkeys"
	"github.com/provision/provision/profiles"
	"github.com/provision/provision/provision"
)

func testBundle(script string, files ...profiles.File) profiles.Bundle {
	return profiles.Bundle{Node: "compute01", Roles: []string{"compute"}, Apply: []byte(script), Files: files}
}

func setup(t *testing.T) (*hostkeys.Store, *provision.NodePlan) {
	t.Helper()
	keys, err := hostkeys.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Generate the keys now: RSA generation under -race takes long
	// enough to eat a short test deadline.
	if _, err := keys.Appliance(); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.HostKeys("compute01"); err != nil {
		t.Fatal(err)
	}
	return keys, &provision.NodePlan{Name: "compute01"}
}

func cfgFor(t *testing.T, keys Keys, addr string, rec *recorder) Config {
	return Config{Keys: keys, Events: rec.sink, User: currentUser(t), RemoteDir: filepath.Join(t.TempDir(), "bundle"),
		Addr: func(*provision.NodePlan) string { return addr }, RetryEvery: 20 * time.Millisecond, DialTimeout: 5 * time.Second}
}

// TestRunAgainstSSHD hands a bundle to a real sshd: the files arrive with
// their modes, apply.sh runs from the bundle directory, its output lines
// become events, and its exit status decides applied or failed.
func TestRunAgainstSSHD(t *testing.T) {
	keys, node := setup(t)
	srv := startSSHD(t, keys, node.Name)
	tests := []struct {
		name       string
		script     string
		wantErr    bool
		wantKinds  []string
		wantOutput []string
	}{
		{
			name:       "applied",
			script:     "#!/bin/bash\nset -e\necho hello\ntest \"$(cat files/etc/motd)\" = welcome\nstat -c %a files/etc/secret\necho oops >&2\n",
			wantKinds:  []string{"ssh/ssh-up", "profile/applied"},
			wantOutput: []string{"stdout: hello", "stdout: 600", "stderr: oops"},
		},
		{
			name:       "exit status",
			script:     "#!/bin/bash\necho half done\nexit 3\n",
			wantErr:    true,
			wantKinds:  []string{"ssh/ssh-up", "profile/failed"},
			wantOutput: []string{"stdout: half done"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			cfg := cfgFor(t, keys, srv.addr, rec)
			b := testBundle(tc.script,
				profiles.File{Path: "/etc/motd", Mode: 0o644, Data: []byte("welcome")},
				profiles.File{Path: "/etc/secret", Mode: 0o640, Secret: true, Data: []byte("s3cret")})
			start := time.Now()
			err := Run(bounded(t, 30*time.Second), node, b, cfg)
			t.Logf("handoff took %v", time.Since(start))
			if (err != nil) != tc.wantErr {
				t.Fatalf("Run: %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr && (!errors.Is(err, ErrApply) || !strings.Contains(err.Error(), "exit status 3")) {
				t.Errorf("error %v: want ErrApply with exit status 3", err)
			}
			if d := cmp.Diff(tc.wantKinds, rec.kinds()); d != "" {
				t.Errorf("events (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.wantOutput, sorted(rec.output(), tc.wantOutput)); d != "" {
				t.Errorf("output (-want +got):\n%s", d)
			}
			fi, err := os.Stat(filepath.Join(cfg.RemoteDir, "apply.sh"))
			if err != nil || fi.Mode().Perm() != 0o700 {
				t.Errorf("uploaded apply.sh: %v, mode %v", err, fi.Mode())
			}
		})
	}
}

// sorted orders got as want is ordered when both hold the same lines:
// stdout and stderr are read concurrently, so their interleaving is free.
func sorted(got, want []string) []string {
	if len(got) != len(want) {
		return got
	}
	out := make([]string, 0, len(got))
	left := append([]string(nil), got...)
	for _, w := range want {
		for i, g := range left {
			if g == w {
				out = append(out, g)
				left = append(left[:i], left[i+1:]...)
				break
			}
		}
	}
	return append(out, left...)
}

// TestRunWrongHostKey: a server whose host key is not the node's is
// refused at once, never retried, and the node fails.
func TestRunWrongHostKey(t *testing.T) {
	keys, node := setup(t)
	other, err := hostkeys.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := startSSHD(t, other, node.Name) // another store: other host keys
	rec := &recorder{}
	cfg := cfgFor(t, keys, srv.addr, rec)
	err = Run(bounded(t, 30*time.Second), node, testBundle("#!/bin/bash\ntouch /tmp/should-not-run\n"), cfg)
	if !errors.Is(err, ErrHostKey) {
		t.Fatalf("Run: %v, want ErrHostKey", err)
	}
	if d := cmp.Diff([]string{"profile/failed"}, rec.kinds()); d != "" {
		t.Errorf("events (-want +got):\n%s", d)
	}
	if _, err := os.Stat(cfg.RemoteDir); err == nil {
		t.Errorf("bundle uploaded to a server with the wrong host key")
	}
}

// TestRunUnreachable: nothing listens; the handoff retries until its
// deadline, then fails the node.
func TestRunUnreachable(t *testing.T) {
	keys, node := setup(t)
	rec := &recorder{}
	cfg := cfgFor(t, keys, "127.0.0.1:"+freePort(t), rec)
	err := Run(bounded(t, 500*time.Millisecond), node, testBundle("#!/bin/bash\n"), cfg)
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Run: %v, want ErrUnreachable", err)
	}
	if d := cmp.Diff([]string{"profile/failed"}, rec.kinds()); d != "" {
		t.Errorf("events (-want +got):\n%s", d)
	}
	var attempts int
	if _, serr := fmtSscan(err.Error(), &attempts); serr != nil || attempts < 2 {
		t.Errorf("want at least 2 attempts before failing: %v (%v)", err, serr)
	}
}

// TestRunStoppedByContext: the caller's deadline ends a running apply.sh
// and the handoff returns at once, the node failed.
func TestRunStoppedByContext(t *testing.T) {
	keys, node := setup(t)
	srv := startSSHD(t, keys, node.Name)
	rec := &recorder{}
	cfg := cfgFor(t, keys, srv.addr, rec)
	ctx := bounded(t, 30*time.Second)
	stopAt := make(chan struct{})
	cfg.Events = func(e provision.Event) {
		rec.sink(e)
		if e.Kind == KindOutput && e.Msg == "started" {
			close(stopAt)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Cancels once apply.sh printed; ends with the context at the latest.
	go func() {
		select {
		case <-stopAt:
			cancel()
		case <-ctx.Done():
		}
	}()
	start := time.Now()
	err := Run(ctx, node, testBundle("#!/bin/bash\necho started\nsleep 5\necho finished\n"), cfg)
	if !errors.Is(err, ErrApply) || time.Since(start) > 4*time.Second {
		t.Fatalf("Run: %v after %v, want ErrApply well before apply.sh ends", err, time.Since(start))
	}
	if d := cmp.Diff([]string{"ssh/ssh-up", "profile/failed"}, rec.kinds()); d != "" {
		t.Errorf("events (-want +got):\n%s", d)
	}
}
