package provision

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// Load reads a site file and the secrets file it names. It returns every
// problem met while reading; the site is nil only when the file could not
// be read or parsed at all.
func Load(path string) (*Site, Problems) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Problems{{File: path, Msg: err.Error()}}
	}
	site, probs := Parse(path, data)
	if site == nil {
		return nil, probs
	}
	c := &collector{file: path, pos: site.positions}
	switch sf := site.Site.SecretsFile; {
	case sf == "":
		c.errorf("site", "site", "secrets", "no secrets file named (set secrets = \"FILE\" in [site])")
	default:
		if !filepath.IsAbs(sf) {
			sf = filepath.Join(filepath.Dir(path), sf)
		}
		sec, err := LoadSecrets(sf)
		if err != nil {
			c.errorf("site.secrets", "site", "secrets", "%v", err)
		} else {
			site.Secrets = sec
		}
	}
	return site, append(probs, c.probs...)
}

// Parse decodes a site file held in memory. name is used in problems.
// Unknown keys are problems: a misspelt key must not be silently ignored.
func Parse(name string, data []byte) (*Site, Problems) {
	var s Site
	md, err := toml.Decode(string(data), &s)
	if err != nil {
		p := Problem{File: name, Msg: err.Error()}
		var pe toml.ParseError
		if errors.As(err, &pe) {
			p.Line, p.Col = pe.Position.Line, pe.Position.Col
			p.Msg = pe.Message
			if pe.LastKey != "" {
				p.Field = pe.LastKey
			}
		}
		return nil, Problems{p}
	}
	s.File = name
	s.positions = indexPositions(string(data))
	c := &collector{file: name, pos: s.positions}
	seen := map[int]bool{}
	for _, k := range md.Undecoded() {
		key := k.String()
		lines := s.positions.bare[key]
		if len(lines) == 0 {
			c.errorf(key, "", key, "unknown key")
			continue
		}
		for _, ln := range lines {
			if seen[ln] {
				continue
			}
			seen[ln] = true
			c.probs = append(c.probs, Problem{File: name, Line: ln, Field: key, Msg: "unknown key" + suggest(key)})
		}
	}
	sort.SliceStable(c.probs, func(i, j int) bool { return c.probs[i].Line < c.probs[j].Line })
	return &s, c.probs
}

// suggest names the known key closest to a misspelt one, if any is close.
func suggest(key string) string {
	last := key
	if i := strings.LastIndex(key, "."); i >= 0 {
		last = key[i+1:]
	}
	return closest(last, knownKeys)
}

// closest names the candidate closest to a misspelt word, if any is
// within two edits, as " (did you mean ...?)".
func closest(word string, candidates []string) string {
	candidates = slices.Sorted(slices.Values(candidates))
	best, bestD := "", 3
	for _, k := range candidates {
		if d := editDistance(word, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" || best == word {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// knownKeys are the keys of the site format, for spelling suggestions.
var knownKeys = strings.Fields(`name domain timezone x appliance secrets appliance_url
boot_mode loader raid image pxe_nic console netboot selinux firewall lang keyboard
bond_mode bond_options mtu kernel_args vlan cidr gateway router purpose default_route
model cpu memory nic disk array speed redfish_id slot count size kind level members use mount fs vg
label_prefix hardware services bond iface packages route slaves mode options device network
tagged to via roles rack unit host addresses idrac idrac_port macs address backends backend_network holders`)

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
