package kickstart

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLint: Lint reads untrusted text (provision lint FILE, -) and must
// never panic, and every problem must name a line of the file.
func FuzzLint(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "lint", "*.ks"))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(lintBase + lintDisks))
	f.Add([]byte("%post\n'\n%end\n%packages\n%pre --interpreter\n"))
	f.Add([]byte("raid / --level=6 --device=md --spares=-9 raid.1\npart raid.1\nlogvol --vgname\n\"\\"))
	f.Fuzz(func(t *testing.T, data []byte) {
		probs, err := Lint(t.Context(), "fuzz.ks", data)
		if err != nil {
			t.Fatal(err)
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, p := range probs {
			if p.Line < 1 || p.Line > lines {
				t.Errorf("%v: line outside the file (%d lines)", p, lines)
			}
		}
	})
}
