package simnode

import (
	"fmt"
	"os"
	"time"
)

// InstallFrom lays down on the node's disk (RootDir) what the kickstart's
// %post writes, as Boot's installer does, for a node whose installer ran
// elsewhere: a QEMU VM (package vm) that fetched this kickstart, called
// back itself and left the kickstart on its own disk image. No callbacks
// are sent and nothing is linted here; a Boot without PXE then brings the
// installed system up from the files.
func InstallFrom(cfg Config, ks []byte) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	n := &node{cfg: cfg, start: time.Now()}
	if err := os.MkdirAll(n.stateDir(), 0o700); err != nil {
		return fmt.Errorf("simnode: node %s: %w", cfg.Node, err)
	}
	if err := n.wipe(); err != nil {
		return fmt.Errorf("simnode: node %s: %w", cfg.Node, err)
	}
	steps, err := parsePost(parseKickstart(ks).post)
	if err != nil {
		return fmt.Errorf("simnode: node %s: %w", cfg.Node, err)
	}
	// The reports were the VM's installer's to send.
	files, err := n.runPost(steps, func(report) {})
	if err != nil {
		return fmt.Errorf("simnode: node %s: %w", cfg.Node, err)
	}
	if err := os.WriteFile(n.installedMarker(), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o600); err != nil {
		return fmt.Errorf("simnode: node %s: installed marker: %w", cfg.Node, err)
	}
	n.step(PhaseInstaller, "post", fmt.Sprintf("%%post of the VM's kickstart wrote %d files under %s", files, cfg.RootDir))
	return nil
}
