package handoff

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provision/provision/profiles"
	"github.com/provision/provision/provision"
)

// TestHookUploadsRenderedBundle renders controller01's real bundle
// through Hook (the rollout engine's Handoff field) and has a stand-in
// apply.sh check on the server that every file arrived, secrets 0600.
func TestHookUploadsRenderedBundle(t *testing.T) {
	keys, _ := setup(t)
	site, probs := provision.Load(filepath.Join("..", "..", "sites", "paper.toml"))
	if site == nil {
		t.Fatal(probs)
	}
	plan, more := provision.Build(site, provision.Options{})
	if errs := append(probs, more...).Errors(); len(errs) > 0 {
		t.Fatal(errs)
	}
	node, _ := plan.Node("controller01")
	srv := startSSHD(t, keys, node.Name)
	state := t.TempDir()
	in, err := profiles.LoadInputs(state, plan, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r, err := profiles.NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	var b profiles.Bundle
	render := func(n *provision.NodePlan) (profiles.Bundle, error) {
		var err error
		b, err = r.Render(plan, n, in)
		if err != nil {
			return b, err
		}
		// Stand in for apply.sh: the real one needs CentOS 6.
		var check strings.Builder
		check.WriteString("#!/bin/bash\nset -e\n")
		for _, f := range b.Tree()[1:] {
			want := fmt.Sprintf("%o", f.Mode)
			fmt.Fprintf(&check, "test \"$(stat -c %%a %s)\" = %s || { echo bad mode %s; exit 1; }\n", f.Name, want, f.Name)
		}
		check.WriteString("echo checked\n")
		b.Apply = []byte(check.String())
		return b, nil
	}
	rec := &recorder{}
	hook := Hook(cfgFor(t, keys, srv.addr, rec), render)
	if err := hook(bounded(t, 30*time.Second), node); err != nil {
		t.Fatalf("hook: %v\n%v", err, rec.output())
	}
	if got := rec.output(); len(got) != 1 || got[0] != "stdout: checked" {
		t.Errorf("output %q", got)
	}
	if len(b.Files) < 15 {
		t.Errorf("controller01's bundle has %d files", len(b.Files))
	}

	failing := Hook(cfgFor(t, keys, srv.addr, rec), func(*provision.NodePlan) (profiles.Bundle, error) {
		return profiles.Bundle{}, errors.New("render failed")
	})
	if err := failing(context.Background(), node); err == nil || !strings.Contains(err.Error(), "render failed") {
		t.Errorf("hook with a failing render: %v", err)
	}
}
