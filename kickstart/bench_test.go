package kickstart

import (
	"testing"
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
