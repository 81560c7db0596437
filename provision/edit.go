package provision

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

var (
	tableHeader = regexp.MustCompile(`^\s*\[`)
	nameLine    = regexp.MustCompile(`^\s*name\s*=\s*"([^"]*)"`)
	rolesLine   = regexp.MustCompile(`^(\s*)roles\s*=\s*\[[^\]]*\](.*)$`)
)

// SetNodeRoles rewrites the roles of one [[node]] in a site file, in
// place: only its `roles = [...]` line changes, comments and layout stay.
// The new file is checked (Load and Build) before it replaces the old
// one; a site that would have errors is not written. It returns the old
// roles line.
func SetNodeRoles(path, node string, roles []string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	lines := strings.SplitAfter(string(data), "\n")
	inNode, found, at := false, false, -1
	for i, l := range lines {
		trim := strings.TrimSpace(l)
		if tableHeader.MatchString(l) {
			if found {
				break
			}
			inNode = trim == "[[node]]"
			at = -1
			continue
		}
		if !inNode {
			continue
		}
		if m := nameLine.FindStringSubmatch(l); m != nil && m[1] == node {
			found = true
		}
		if rolesLine.MatchString(strings.TrimRight(l, "\r\n")) {
			at = i
		}
	}
	if !found {
		return "", fmt.Errorf("%s: no [[node]] named %s", path, node)
	}
	if at < 0 {
		return "", fmt.Errorf("%s: node %s: no one-line roles = [...] to change: edit the file", path, node)
	}
	quoted := make([]string, len(roles))
	for i, r := range roles {
		quoted[i] = strconv.Quote(r)
	}
	old := strings.TrimRight(lines[at], "\n")
	m := rolesLine.FindStringSubmatch(old)
	lines[at] = m[1] + "roles = [" + strings.Join(quoted, ", ") + "]" + m[2] + "\n"
	out := []byte(strings.Join(lines, ""))
	if bytes.Equal(out, data) {
		return old, nil
	}
	site, probs := Parse(path, out)
	if site != nil && probs.Err() == nil {
		site.File = path
		_, more := Build(site, Options{})
		probs = append(probs, more...)
	}
	if err := probs.Err(); err != nil {
		return "", fmt.Errorf("node %s as %s: the site would have errors, not written:\n%w", node, strings.Join(roles, ","), err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".site-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(out); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Chmod(fi.Mode().Perm()); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	return old, os.Rename(tmp.Name(), path)
}
