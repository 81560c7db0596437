package appliance

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/provision/provision/internal/handoff"
	"github.com/provision/provision/profiles"
	"github.com/provision/provision/provision"
)

// labCheckOnly is what a lab node runs instead of its profile: the
// simulated node shares this host's file system, so the bundle is
// uploaded and checked, never applied. A load balancer's bundle also
// starts the real haproxy and keepalived with their rendered configs, in
// the node's network namespace and a private mount namespace (its /etc
// files bind-mounted over the host's), so the lab's VIPs are held and
// fail over as on hardware. (haproxy -n: a lab machine allows fewer open
// files than the rendered maxconn needs.)
const labCheckOnly = `/bin/bash -n ./apply.sh || exit 1
echo 'lab: apply.sh uploaded and checked (bash -n), not run: a simulated node installs no packages'
if [ -f files/etc/keepalived/keepalived.conf ] && [ -f files/etc/haproxy/haproxy.cfg ] && command -v keepalived >/dev/null; then
  sysctl -qw net.ipv4.ip_nonlocal_bind=1 || exit 1
  exec unshare -m --propagation private /bin/bash -c '
    mount --bind "$PWD/files/etc/haproxy" /etc/haproxy &&
    mount --bind "$PWD/files/etc/keepalived" /etc/keepalived &&
    haproxy -D -n 4096 -f /etc/haproxy/haproxy.cfg -p "$PWD/haproxy.pid" &&
    keepalived -f /etc/keepalived/keepalived.conf -p "$PWD/keepalived.pid" -r "$PWD/vrrp.pid" -c "$PWD/checkers.pid" &&
    echo "lab: haproxy and keepalived run with the rendered configs"'
fi`

// handoff is the rollout's last step: SSH to the installed node (its
// generated host key verified), upload its role profile, run it.
func (a *Appliance) handoff() func(context.Context, *provision.NodePlan) error {
	cfg := handoff.Config{Keys: a.Keys, Events: a.Tracker.Record, Log: a.log.With("part", "handoff")}
	if a.cfg.LabDir != "" {
		cfg = LabHandoff(cfg, a.cfg.LabDir)
	}
	return handoff.Hook(cfg, a.renderBundle)
}

// LabHandoff makes cfg the handoff of a virtual lab whose directory is
// labDir: a simulated node shares this machine's file system, so its
// profile is uploaded to its own directory in the lab and checked there,
// never run (it would install packages on this machine).
func LabHandoff(cfg handoff.Config, labDir string) handoff.Config {
	cfg.RemoteDirFor = func(n *provision.NodePlan) string { return filepath.Join(labDir, "nodes", n.Name, "profile") }
	cfg.Command = labCheckOnly
	cfg.RetryEvery = 500 * time.Millisecond
	return cfg
}

// renderBundle renders a node's role profile with the inputs kept in the
// state directory.
func (a *Appliance) renderBundle(n *provision.NodePlan) (profiles.Bundle, error) {
	plan := a.Plan()
	var extra map[string]provision.Secret
	if sec := a.Site().Secrets; sec != nil {
		extra = sec.Extra
	}
	in, err := profiles.LoadInputs(a.cfg.StateDir, plan, extra, time.Now())
	if err != nil {
		return profiles.Bundle{}, fmt.Errorf("profile inputs: %w", err)
	}
	a.rendererOnce.Do(func() { a.renderer, a.rendererErr = profiles.NewRenderer() })
	if a.rendererErr != nil {
		return profiles.Bundle{}, a.rendererErr
	}
	return a.renderer.Render(plan, n, in)
}

// probeInstalled is one SSH login to the node's installed system, its
// host key verified.
func (a *Appliance) probeInstalled(ctx context.Context, n *provision.NodePlan) error {
	return handoff.Probe(ctx, n, handoff.Config{Keys: a.Keys, Log: a.log, DialTimeout: 5 * time.Second})
}
