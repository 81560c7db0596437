package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckExampleSites(t *testing.T) {
	for _, name := range []string{"paper", "staging"} {
		site := copySite(t, name)
		r := runCLI(t, nil, "", "check", "--site", site)
		if r.code != 0 {
			t.Fatalf("%s: exit %d: %s%s", name, r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stdout, "0 errors, 0 warnings") {
			t.Errorf("%s: %s", name, r.stdout)
		}
	}
}

func TestCheckBrokenSite(t *testing.T) {
	site := copySite(t, "paper")
	data, err := os.ReadFile(site)
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(data), "host = 44\n", "host = 45\nhostt = 1\n", 1)
	if err := os.WriteFile(site, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, nil, "", "check", "--site", site)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1: %s", r.code, r.stdout)
	}
	for _, want := range []string{"paper.toml:", "hostt", "did you mean", "10.3.1.45"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}

	r = runCLI(t, nil, "", "check", "--json", "--site", site)
	var out struct {
		Errors   int `json:"errors"`
		Problems []struct {
			File string `json:"file"`
			Line int    `json:"line"`
		} `json:"problems"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("check --json: %v\n%s", err, r.stdout)
	}
	if r.code != 1 || out.Errors < 2 {
		t.Fatalf("exit %d, %d errors", r.code, out.Errors)
	}
	for _, p := range out.Problems {
		if p.Line == 0 {
			t.Errorf("problem without a line: %+v", p)
		}
	}
}

func TestCheckSecretsMode(t *testing.T) {
	site := copySite(t, "paper")
	if err := os.Chmod(filepath.Join(filepath.Dir(site), "paper.secrets.toml"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, nil, "", "check", "--site", site)
	if r.code != 1 || !strings.Contains(r.stdout, "chmod 600") {
		t.Fatalf("exit %d: %s", r.code, r.stdout)
	}
}

func TestCheckMissingSite(t *testing.T) {
	r := runCLI(t, nil, "", "check", "--site", filepath.Join(t.TempDir(), "nope.toml"))
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "nope.toml") {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
}

func TestPlanJSON(t *testing.T) {
	site := copySite(t, "paper")
	r := runCLI(t, nil, "", "plan", "--json", "--site", site)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var plan struct {
		Site struct {
			Name string `json:"name"`
		} `json:"site"`
		Nodes []struct {
			Name string `json:"name"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil {
		t.Fatal(err)
	}
	if plan.Site.Name != "paper" || len(plan.Nodes) != 27 {
		t.Fatalf("site %q with %d nodes", plan.Site.Name, len(plan.Nodes))
	}
	if strings.Contains(r.stdout, "calvin") || strings.Contains(r.stdout, "$6$") {
		t.Error("plan --json printed a secret")
	}

	r = runCLI(t, nil, "", "plan", "--json", "--site", site, "compute05", "admin01")
	if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil {
		t.Fatal(err)
	}
	if len(plan.Nodes) != 2 || plan.Nodes[0].Name != "compute05" {
		t.Fatalf("nodes %+v", plan.Nodes)
	}
}

func TestPlanText(t *testing.T) {
	site := copySite(t, "paper")
	r := runCLI(t, nil, "", "plan", "--site", site, "compute05")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"compute05", "bond0", "10.3.1.44", "bond2.104", "10.4.1.44", "bond3.105", "/var/lib/nova/instances"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan compute05 lacks %q:\n%s", want, r.stdout)
		}
	}
	r = runCLI(t, nil, "", "plan", "--site", site)
	if r.code != 0 || !strings.Contains(r.stdout, "controller01") {
		t.Fatalf("plan: exit %d", r.code)
	}
}

func TestPlanUnknownNode(t *testing.T) {
	site := copySite(t, "paper")
	r := runCLI(t, nil, "", "plan", "--site", site, "compute99", "nope")
	if r.code != 1 || !strings.Contains(r.err.Error(), "compute99, nope") {
		t.Fatalf("exit %d: %v", r.code, r.err)
	}
	r = runCLI(t, nil, "", "plan", "--site", site, "--explain", "compute99")
	if r.code != 1 || !strings.Contains(r.err.Error(), "compute99") {
		t.Fatalf("exit %d: %v", r.code, r.err)
	}
}

func TestPlanExplain(t *testing.T) {
	site := copySite(t, "paper")
	r := runCLI(t, nil, "", "plan", "--site", site, "--explain", "compute05")
	if r.code != 0 {
		t.Fatalf("exit %d: %v", r.code, r.err)
	}
	for _, want := range []string{"boot_mode", "[defaults]", "built-in", "paper.toml:"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--explain lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestSiteFromEnvironment: --site defaults to $PROVISION_SITE.
func TestSiteFromEnvironment(t *testing.T) {
	site := copySite(t, "staging")
	r := runCLI(t, map[string]string{"PROVISION_SITE": site}, "", "check")
	if r.code != 0 || !strings.Contains(r.stdout, site) {
		t.Fatalf("exit %d: %s", r.code, r.stdout)
	}
	// Without either, the default path is named in the error.
	r = runCLI(t, nil, "", "plan")
	if r.code == 0 || !strings.Contains(r.stdout+r.stderr+r.err.Error(), defaultSite) {
		t.Fatalf("exit %d: %v", r.code, r.err)
	}
}

// TestHelp: every command explains itself.
func TestHelp(t *testing.T) {
	var a app
	root := a.rootCmd()
	for _, c := range append(root.Commands(), root) {
		args := []string{c.Name(), "--help"}
		if c == root {
			args = []string{"--help"}
		}
		r := runCLI(t, nil, "", args...)
		if r.code != 0 {
			t.Errorf("%v: exit %d", args, r.code)
		}
		if len(r.stdout) < 200 || !strings.Contains(r.stdout, "Usage:") {
			t.Errorf("%v: thin help:\n%s", args, r.stdout)
		}
		if c != root && c.Name() != "help" && c.Long == "" && !c.HasSubCommands() {
			t.Errorf("%s has no long help", c.Name())
		}
	}
}

func TestBashCompletion(t *testing.T) {
	r := runCLI(t, nil, "", "completion", "bash")
	if r.code != 0 || !strings.Contains(r.stdout, "__start_provision") {
		t.Fatalf("exit %d: %.200s", r.code, r.stdout)
	}
	site := copySite(t, "paper")
	r = runCLI(t, nil, "", "__complete", "--site", site, "plan", "comp")
	if !strings.Contains(r.stdout, "compute05") {
		t.Fatalf("node completion: %s", r.stdout)
	}
}
