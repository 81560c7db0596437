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

// BenchmarkRender10000 renders 10,000 kickstarts per iteration, cycling
// through the paper site's nodes (the target: under 1 s for a
// 10,000-node site).
func BenchmarkRender10000(b *testing.B) {
	plan := loadSite(b, "paper")
	var inputs []Inputs
	for _, n := range plan.Nodes {
		inputs = append(inputs, fakeInputs(n.Name))
	}
	for b.Loop() {
		for i := 0; i < 10000; {
			for j, n := range plan.Nodes {
				if n.Appliance || i >= 10000 {
					continue
				}
				if _, err := Render(plan, n, inputs[j]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		}
	}
}

// BenchmarkRender10000Parallel is BenchmarkRender10000 spread over
// GOMAXPROCS goroutines, as a server rendering for many nodes at once
// would; Render is safe for concurrent use. Every goroutine ends before
// the iteration does.
func BenchmarkRender10000Parallel(b *testing.B) {
	plan := loadSite(b, "paper")
	var nodes []*provision.NodePlan
	var inputs []Inputs
	for _, n := range plan.Nodes {
		if !n.Appliance {
			nodes = append(nodes, n)
			inputs = append(inputs, fakeInputs(n.Name))
		}
	}
	workers := runtime.GOMAXPROCS(0)
	for b.Loop() {
		var wg sync.WaitGroup
		errs := make([]error, workers)
		for w := range workers {
			wg.Go(func() {
				for i := w; i < 10000; i += workers {
					if _, err := Render(plan, nodes[i%len(nodes)], inputs[i%len(nodes)]); err != nil {
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
