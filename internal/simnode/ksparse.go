package simnode

import (
	"regexp"
	"strconv"
	"strings"
)

// ksScripts are the parts of a kickstart the simulated installer runs.
type ksScripts struct {
	pre, post []string // bodies, without the header and %end
	eventsURL string   // EVENTS_URL of the report function
	token     string   // TOKEN of the report function
}

// parseKickstart splits out %pre and %post and reads the report
// function's URL and token.
func parseKickstart(data []byte) ksScripts {
	var ks ksScripts
	var cur *[]string
	for _, line := range strings.Split(string(data), "\n") {
		t := strings.TrimSpace(line)
		switch {
		case cur == nil && strings.HasPrefix(t, "%pre"):
			cur = &ks.pre
		case cur == nil && strings.HasPrefix(t, "%post"):
			cur = &ks.post
		case cur == nil && strings.HasPrefix(t, "%") && t != "%end":
			cur = new([]string) // %packages, %traceback: not run
		case cur != nil && t == "%end":
			cur = nil
		case cur != nil:
			*cur = append(*cur, line)
		}
	}
	for _, body := range [][]string{ks.pre, ks.post} {
		for _, l := range body {
			if v, ok := strings.CutPrefix(l, "EVENTS_URL="); ok && ks.eventsURL == "" {
				ks.eventsURL = unquote(v)
			}
			if v, ok := strings.CutPrefix(l, "TOKEN="); ok && ks.token == "" {
				ks.token = unquote(v)
			}
		}
	}
	return ks
}

// words splits a shell line into words: blanks separate, single and
// double quotes group (no expansion, no escapes but '\” in single-quoted
// text as shellQuote writes it).
func words(line string) []string {
	var out []string
	var cur strings.Builder
	in := false
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			cur.WriteByte(c)
		case c == '\'' || c == '"':
			quote, in = c, true
		case c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
			in = true
		case c == ' ' || c == '\t':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

func unquote(s string) string {
	if w := words(s); len(w) == 1 {
		return w[0]
	}
	return strings.TrimSpace(s)
}

// report is one top-level "report STATE MESSAGE" line of a script: the
// reports every install sends on its way.
type report struct {
	state, msg string
}

// reportLine reads a top-level report line (not indented: one inside an
// if or a function is a failure path).
func reportLine(line string) (report, bool) {
	if !strings.HasPrefix(line, "report ") {
		return report{}, false
	}
	w := words(line)
	if len(w) != 3 {
		return report{}, false
	}
	return report{state: w[1], msg: w[2]}, true
}

// diskCheck is one check_disk line of %pre.
type diskCheck struct {
	dev      string
	min, max int64
	what     string
}

// preChecks are %pre's checks of the machine.
type preChecks struct {
	disks     []diskCheck
	diskCount int               // expected fixed disks; -1 when not checked
	nics      []string          // in order
	nicMACs   map[string]string // NIC -> MAC the plan says, when it does
	failMsg   string            // the refusal's message, with $problems in it
}

var diskCountRE = regexp.MustCompile(`"\$disks" -ne ([0-9]+)`)

func parsePre(body []string) preChecks {
	pc := preChecks{diskCount: -1, nicMACs: map[string]string{},
		failMsg: "not the machine the plan describes, no disk touched: $problems"}
	for _, line := range body {
		t := strings.TrimSpace(line)
		w := words(t)
		switch {
		case len(w) == 5 && w[0] == "check_disk":
			lo, err1 := strconv.ParseInt(w[2], 10, 64)
			hi, err2 := strconv.ParseInt(w[3], 10, 64)
			if err1 == nil && err2 == nil {
				pc.disks = append(pc.disks, diskCheck{dev: w[1], min: lo, max: hi, what: w[4]})
			}
		case (len(w) == 2 || len(w) == 3) && w[0] == "check_nic":
			pc.nics = append(pc.nics, w[1])
			if len(w) == 3 {
				pc.nicMACs[w[1]] = strings.ToLower(w[2])
			}
		case strings.HasPrefix(t, "report failed ") && strings.Contains(t, "$problems"):
			if w := words(t); len(w) == 3 {
				pc.failMsg = w[2]
			}
		}
		if m := diskCountRE.FindStringSubmatch(t); m != nil {
			pc.diskCount, _ = strconv.Atoi(m[1])
		}
	}
	return pc
}
