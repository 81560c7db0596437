package kickstart

import (
	"errors"
	"runtime"
	"sync"
	"testing"

	"github.com/provision/provision/provision"
)

// BenchmarkRenderLintPaper renders and lints the kickstart of every
// installable node of the paper site (26 nodes) per iteration.
func BenchmarkRenderLintPaper(b *testing.B) {
	plan := loadSite(b, "paper")
	for b.Loop() {
		for _, n := range plan.Nodes {
			if n.Appliance {
				continue
			}
			ks, err := Render(plan, n, fakeInputs(n.Name))
			if err != nil {
				b.Fatal(err)
			}
			probs, err := Lint(b.Context(), n.Name+".ks", ks)
			if err != nil {
				b.Fatal(err)
			}
			if len(probs) > 0 {
				b.Fatalf("%s: %v", n.Name, probs[0])
			}
		}
	}
}

// siteNodes is the installable nodes of a generated 10,000-node site
// (the paper site's 27 nodes and 9,973 generated ones) with their inputs.
func siteNodes(b *testing.B) (*provision.Plan, []*provision.NodePlan, []Inputs) {
	plan := generatedSite(b, 10000-27)
	var nodes []*provision.NodePlan
	var inputs []Inputs
	for _, n := range plan.Nodes {
		if !n.Appliance {
			nodes = append(nodes, n)
			inputs = append(inputs, fakeInputs(n.Name))
		}
	}
	return plan, nodes, inputs
}

// BenchmarkRenderSite10000 renders every kickstart of a generated
// 10,000-node site per iteration (the target: under 1 s).
func BenchmarkRenderSite10000(b *testing.B) {
	plan, nodes, inputs := siteNodes(b)
	for b.Loop() {
		for i, n := range nodes {
			if _, err := Render(plan, n, inputs[i]); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkRenderSite10000Parallel is BenchmarkRenderSite10000 spread
// over GOMAXPROCS goroutines, as a server rendering for many nodes at once
// would; Render is safe for concurrent use. Every goroutine ends before
// the iteration does.
func BenchmarkRenderSite10000Parallel(b *testing.B) {
	plan, nodes, inputs := siteNodes(b)
	workers := runtime.GOMAXPROCS(0)
	for b.Loop() {
		var wg sync.WaitGroup
		errs := make([]error, workers)
		for w := range workers {
			wg.Go(func() {
				for i := w; i < len(nodes); i += workers {
					if _, err := Render(plan, nodes[i], inputs[i]); err != nil {
						errs[w] = err
						return
					}
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			b.Fatal(err)
		}
	}
}
