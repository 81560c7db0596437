package httpd

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/provision/provision/internal/metrics"
	"github.com/provision/provision/internal/proctest"
	"github.com/provision/provision/provision"
)

// BenchmarkInstallTreeWrk serves the same install-tree files from this
// server and from nginx (Debian's, started on a free loopback port with
// a config generated in a temp dir) and loads each with wrk, 8
// connections for 5 s, every server in every iteration: the figures are
// MB/s of response bytes, requests/s and CPU per request of each, and
// x-nginx the ratio of this server's MB/s to nginx's (the issue's
// target: >= 0.9). nethttp is this server without its install-tree
// lane (every request to net/http), nethttp-x-nginx its ratio.
//
//	go test ./internal/httpd -run '^$' -bench InstallTreeWrk -benchtime 1x
//
// nginx is $NGINX, else nginx on $PATH or in /usr/sbin; without it or
// wrk the benchmark is skipped.
func BenchmarkInstallTreeWrk(b *testing.B) {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		b.Skip("wrk not installed (make bench installs it)")
	}
	nginx := findNginx()
	if nginx == "" {
		b.Skip("nginx not installed: set NGINX or install nginx-light (make bench installs it)")
	}
	e := start(b)
	// A small file beside the 8 MiB install.img: per-request cost, as an
	// installer fetching a tree's RPMs sees it.
	small := make([]byte, 64<<10)
	for i := range small {
		small[i] = byte(i * 13)
	}
	if err := os.MkdirAll(filepath.Join(e.images, "centos-6.5", "Packages"), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.images, "centos-6.5", "Packages", "small.rpm"), small, 0o644); err != nil {
		b.Fatal(err)
	}
	nginxAddr, nginxCPU := startNginx(b, nginx, e.images)
	// "nethttp" is this server with every request to net/http (no
	// install-tree lane): what the lane gains, in the same run.
	addrs := map[string]string{
		"provision": quietServer(b, e, false),
		"nethttp":   quietServer(b, e, true),
		"nginx":     nginxAddr,
	}
	// Each server's CPU time: this test process's for this server (wrk
	// is a child, not counted), nginx's master and workers' in a cgroup
	// (root only; nil without).
	self := func() time.Duration {
		d, err := proctest.CPU(os.Getpid(), false)
		if err != nil {
			b.Fatalf("this process's CPU: %v", err)
		}
		return d
	}
	cpuOf := map[string]func() time.Duration{"nginx": nginxCPU, "provision": self, "nethttp": self}
	script := filepath.Join(b.TempDir(), "done.lua")
	if err := os.WriteFile(script, []byte(wrkScript), 0o644); err != nil {
		b.Fatal(err)
	}
	for _, file := range []struct{ name, path string }{
		{"install.img-8MiB", "centos-6.5/images/install.img"},
		{"rpm-64KiB", "centos-6.5/Packages/small.rpm"},
	} {
		b.Run("file="+file.name, func(b *testing.B) {
			// The servers take turns, each first in its turn, so that
			// the load of a shared machine falls on all alike.
			order := []string{"nginx", "provision", "nethttp"}
			total := map[string]*wrkResult{"nginx": {}, "provision": {}, "nethttp": {}}
			cpu := map[string]time.Duration{}
			for b.Loop() {
				for _, server := range order {
					var c0 time.Duration
					if cpuOf[server] != nil {
						c0 = cpuOf[server]()
					}
					r, err := runWrk(b.Context(), wrk, script, "http://"+addrs[server]+"/images/"+file.path)
					if err != nil {
						b.Fatal(err)
					}
					if cpuOf[server] != nil {
						cpu[server] += cpuOf[server]() - c0
					}
					total[server].add(r)
				}
				order = append(order[1:], order[0])
			}
			for _, server := range []string{"nginx", "provision", "nethttp"} {
				b.ReportMetric(total[server].mbs(), server+"-MB/s")
				b.ReportMetric(float64(total[server].requests)/total[server].seconds, server+"-req/s")
				if d, ok := cpu[server]; ok {
					b.ReportMetric(float64(d.Microseconds())/float64(total[server].requests), server+"-us/req")
				}
			}
			b.ReportMetric(total["provision"].mbs()/total["nginx"].mbs(), "x-nginx")
			b.ReportMetric(total["nethttp"].mbs()/total["nginx"].mbs(), "nethttp-x-nginx")
		})
	}
}

// wrkScript makes wrk print its totals as one parsable line, and counts
// every error, a non-2xx status included.
const wrkScript = `done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK %d %d %d %d\n", summary.duration, summary.requests, summary.bytes,
    e.connect + e.read + e.write + e.status + e.timeout))
end
`

type wrkResult struct {
	seconds         float64
	requests, bytes int64
}

// mbs is the throughput in MB/s of response bytes, headers included.
func (r *wrkResult) mbs() float64 { return float64(r.bytes) / r.seconds / 1e6 }

func (r *wrkResult) add(o wrkResult) {
	r.seconds += o.seconds
	r.requests += o.requests
	r.bytes += o.bytes
}

// runWrk loads url with wrk -c 8 -d 5s (2 threads, one per core).
func runWrk(ctx context.Context, wrk, script, url string) (wrkResult, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, wrk, "-t", "2", "-c", "8", "-d", "5s", "-s", script, url).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %v\n%s", url, err, out)
	}
	var us, reqs, bytes, errs int64
	i := strings.Index(string(out), "WRK ")
	if i < 0 {
		return wrkResult{}, fmt.Errorf("wrk %s printed no totals:\n%s", url, out)
	}
	if _, err := fmt.Sscanf(string(out[i:]), "WRK %d %d %d %d", &us, &reqs, &bytes, &errs); err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %v:\n%s", url, err, out)
	}
	if errs > 0 || reqs == 0 || us == 0 {
		return wrkResult{}, fmt.Errorf("wrk %s: %d errors in %d requests:\n%s", url, errs, reqs, out)
	}
	return wrkResult{seconds: float64(us) / 1e6, requests: reqs, bytes: bytes}, nil
}

// quietServer serves e's plan, stores and install tree from another
// server on a loopback port (noLane: every request to net/http),
// logging at Info and counting requests as the appliance does (the
// harness's server logs every request at Debug into memory), and
// returns its address.
func quietServer(b *testing.B, e *env, noLane bool) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	root, err := os.OpenRoot(e.images)
	if err != nil {
		b.Fatal(err)
	}
	m := metrics.New(metrics.Config{})
	srv := &Server{
		Listener:  ln,
		Plan:      func() *provision.Plan { return e.plan },
		Flags:     e.store,
		Tokens:    e.keys,
		MACs:      e.store.MACs,
		Kickstart: fakeKickstart,
		Images:    root,
		Events:    e.ev.sink,
		Log:       slog.New(slog.DiscardHandler),
		// Requests counted as the appliance counts them.
		Middleware: m.Middleware,
		Observe:    m.ObserveHTTP,
		noLane:     noLane,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("Serve: %v", err)
		}
		root.Close()
	})
	return ln.Addr().String()
}

func findNginx() string {
	if p := os.Getenv("NGINX"); p != "" {
		return p
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	return ""
}

// nginxConf is a minimal static-file server as Debian's default site
// serves files (sendfile, tcp_nopush), one worker per core, no access
// log (this server logs no request at Info either), keep-alive for as
// many requests as wrk sends (this server has no cap). Its pid file,
// error log and temp paths are in dir: nothing of the system's nginx is
// used. Workers run as root when the test does, to read the test's
// private temp dirs.
const nginxConf = `daemon off;
%s
worker_processes auto;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 256; }
http {
  default_type application/octet-stream;
  types { }
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path %[2]s/body;
  proxy_temp_path %[2]s/proxy;
  fastcgi_temp_path %[2]s/fastcgi;
  uwsgi_temp_path %[2]s/uwsgi;
  scgi_temp_path %[2]s/scgi;
  server {
    listen %[3]s;
    location /images/ { alias %[4]s/; }
  }
}
`

// startNginx runs nginx in the foreground on a free loopback port,
// serving images at /images/, until the benchmark ends, and returns its
// address once it answers, and the CPU time its master and workers have
// used (counted in a cgroup, which needs root; nil without).
func startNginx(b *testing.B, bin, images string) (string, func() time.Duration) {
	b.Helper()
	dir := b.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	user := ""
	if os.Geteuid() == 0 {
		user = "user root root;"
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, user, dir, addr, images), 0o644); err != nil {
		b.Fatal(err)
	}
	group := cpuGroup(b, fmt.Sprintf("provision-bench-nginx-%d", os.Getpid()))
	cmd := exec.Command(bin, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	// Its own process group, so that the workers can be killed with the
	// master if it does not stop them itself.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	b.Cleanup(func() {
		// SIGTERM: the master stops its workers and exits.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			b.Errorf("nginx did not stop on SIGTERM: killing its process group")
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	c := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		resp, err := c.Get("http://" + addr + "/images/centos-6.5/.treeinfo")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr, nginxCPU(b, group, cmd.Process.Pid)
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			b.Fatalf("nginx exited: %v\n%s", waitErr, log)
		case <-deadline:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			b.Fatalf("nginx at %s does not answer: %v\n%s", addr, err, log)
		case <-tick.C:
		}
	}
}

// cpuGroup makes a cgroup that counts nginx's CPU time, removed at the
// end of the benchmark (after nginx has stopped: make it before nginx
// starts), or nil when none can be made (not root).
func cpuGroup(b *testing.B, name string) *proctest.CPUGroup {
	g, err := proctest.NewCPUGroup(name)
	if err != nil {
		b.Logf("nginx's CPU not counted: %v", err)
		return nil
	}
	b.Cleanup(func() {
		if err := g.Remove(); err != nil {
			b.Error(err)
		}
	})
	return g
}

// nginxCPU puts nginx's master and its workers (forked by the time it
// answers) in g and returns their CPU time counter; nil without g.
func nginxCPU(b *testing.B, g *proctest.CPUGroup, master int) func() time.Duration {
	if g == nil {
		return nil
	}
	workers, err := proctest.Children(master)
	if err != nil {
		b.Fatalf("nginx's workers: %v", err)
	}
	for _, pid := range append([]int{master}, workers...) {
		if err := g.Add(pid); err != nil {
			b.Logf("nginx's CPU not counted: %v", err)
			return nil
		}
	}
	return g.Counter(b, "nginx")
}
