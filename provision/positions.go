package provision

import (
	"strconv"
	"strings"
)

// positions maps a key path of the site file to the line it was written
// on, so that a problem found after decoding can still name file:line.
// BurntSushi/toml keeps key positions private, so the file is scanned
// again here: table headers ([a.b], [[a.b]]) and "key =" lines. Paths look
// like "node[3].host", "role.compute.bond[0].slaves", "site.x".
type positions struct {
	lines map[string]int
	// bare maps a path without array indices ("node.host") to every line
	// it was written on, for keys the decoder reports without an index.
	bare map[string][]int
}

func indexPositions(src string) *positions {
	p := &positions{lines: map[string]int{}, bare: map[string][]int{}}
	counts := map[string]int{} // array-of-tables path -> elements seen
	table := ""
	for i, raw := range strings.Split(src, "\n") {
		line := strings.TrimSpace(raw)
		n := i + 1
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
			continue
		case strings.HasPrefix(line, "[["):
			end := strings.Index(line, "]]")
			if end < 0 {
				continue
			}
			name := p.resolve(strings.TrimSpace(line[2:end]), counts, true)
			idx := counts[name]
			counts[name] = idx + 1
			table = name + "[" + strconv.Itoa(idx) + "]"
			p.set(table, n)
		case strings.HasPrefix(line, "["):
			end := strings.Index(line, "]")
			if end < 0 {
				continue
			}
			table = p.resolve(strings.TrimSpace(line[1:end]), counts, false)
			p.set(table, n)
		default:
			eq := strings.Index(line, "=")
			if eq <= 0 {
				continue
			}
			key := strings.Trim(strings.TrimSpace(line[:eq]), `"'`)
			if table != "" {
				key = table + "." + key
			}
			p.set(key, n)
		}
	}
	return p
}

// resolve turns a dotted header into a path whose array-of-tables parts
// carry the index of their latest element: "role.compute.bond" stays, but
// "node.macs" under the third [[node]] becomes "node[2].macs". The last part
// of an [[array]] header is left bare: the caller numbers it.
func (p *positions) resolve(header string, counts map[string]int, array bool) string {
	parts := strings.Split(header, ".")
	out := ""
	for i, part := range parts {
		part = strings.Trim(strings.TrimSpace(part), `"'`)
		if out != "" {
			out += "."
		}
		out += part
		if array && i == len(parts)-1 {
			break
		}
		if c, ok := counts[out]; ok && c > 0 {
			out += "[" + strconv.Itoa(c-1) + "]"
		}
	}
	return out
}

func (p *positions) set(path string, line int) {
	b := stripIndices(path)
	p.bare[b] = append(p.bare[b], line)
	if _, ok := p.lines[path]; !ok {
		p.lines[path] = line
	}
}

// line returns the line of path, or of its nearest enclosing table, or 0.
func (p *positions) line(path string) int {
	if p == nil {
		return 0
	}
	for path != "" {
		if n, ok := p.lines[path]; ok {
			return n
		}
		cut := strings.LastIndexAny(path, ".[")
		if cut < 0 {
			return 0
		}
		path = path[:cut]
	}
	return 0
}

// stripIndices removes "[N]" parts from a path.
func stripIndices(path string) string {
	var b strings.Builder
	depth := 0
	for _, r := range path {
		switch {
		case r == '[':
			depth++
		case r == ']':
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	return b.String()
}
