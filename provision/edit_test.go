package provision

import (
	"os"
	"strings"
	"testing"
)

func TestSetNodeRoles(t *testing.T) {
	path := writeSite(t, "paper", exampleSite(t, "paper"))
	before, _ := os.ReadFile(path)
	old, err := SetNodeRoles(path, "compute05", []string{"storage"})
	if err == nil || !strings.Contains(err.Error(), `role "storage" is not defined`) {
		t.Fatalf("compute05 as an undefined role: %v (old %q)", err, old)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("a refused change was written")
	}
	if _, err := SetNodeRoles(path, "compute99", []string{"compute"}); err == nil || !strings.Contains(err.Error(), "no [[node]] named compute99") {
		t.Fatalf("unknown node: %v", err)
	}
	// The same roles: nothing changes.
	old, err = SetNodeRoles(path, "compute05", []string{"compute"})
	if err != nil || !strings.Contains(old, `"compute"`) {
		t.Fatalf("no-op: %q %v", old, err)
	}
	text := strings.Replace(exampleSite(t, "paper"), "name = \"compute05\"\nroles = [\"compute\"]", "name = \"compute05\"\nroles = [\"compute\"] # the fifth", 1)
	path = writeSite(t, "paper", text)
	if _, err := SetNodeRoles(path, "compute05", []string{"blockstorage"}); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(path)
	if !strings.Contains(string(after), "name = \"compute05\"\nroles = [\"blockstorage\"] # the fifth\n") {
		t.Fatalf("line not rewritten in place:\n%s", after)
	}
	if strings.Count(string(after), "\n") != strings.Count(text, "\n") {
		t.Fatal("line count changed")
	}
}
