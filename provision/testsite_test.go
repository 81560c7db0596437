package provision

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// exampleSite reads one of the example sites of sites/.
func exampleSite(t testing.TB, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "sites", name+".toml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// writeSite writes a site text and a copy of the example secrets (mode
// 0600) into a temporary directory and returns the site file's path.
func writeSite(t testing.TB, name, text string) string {
	t.Helper()
	dir := t.TempDir()
	sec, err := os.ReadFile(filepath.Join("..", "sites", name+".secrets.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".secrets.toml"), sec, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// loadBuild loads and plans a site file, returning every problem.
func loadBuild(t testing.TB, path string) (*Plan, Problems) {
	t.Helper()
	site, probs := Load(path)
	if site == nil {
		return nil, probs
	}
	plan, more := Build(site, Options{})
	return plan, append(probs, more...)
}

// edit is a change to a site text.
type edit func(t testing.TB, s string) string

// replace changes the one occurrence of old.
func replace(old, new string) edit {
	return func(t testing.TB, s string) string {
		t.Helper()
		if n := strings.Count(s, old); n != 1 {
			t.Fatalf("edit: %q occurs %d times, want once", old, n)
		}
		return strings.Replace(s, old, new, 1)
	}
}

// inNode adds lines to the [[node]] of that name, after its name.
func inNode(node, lines string) edit {
	return replace("name = \""+node+"\"\n", "name = \""+node+"\"\n"+lines+"\n")
}

// inTable adds lines right after a table header such as [role.compute].
func inTable(header, lines string) edit {
	return replace(header+"\n", header+"\n"+lines+"\n")
}

// appendText adds lines at the end of the site text.
func appendText(lines string) edit {
	return func(t testing.TB, s string) string { return s + "\n" + lines + "\n" }
}
