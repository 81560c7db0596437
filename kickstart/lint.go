package kickstart

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// Problem is one finding of Lint, at a line of the linted file.
type Problem struct {
	File string
	Line int
	Msg  string
}

func (p Problem) String() string { return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg) }

// command is one parsed command line.
type command struct {
	line int
	name string
	args []string          // positional
	opts map[string]string // option -> value ("" for flags)
}

// script is the body of a %pre, %post or %traceback section.
type script struct {
	line        int // line of the section header
	interpreter string
	body        []string
}

// linter holds what one Lint call has found so far.
type linter struct {
	file     string
	cmds     map[string]cmdSpec
	problems []Problem
	lines    int // lines in the file
	parsed   []command
	scripts  []script
}

func (l *linter) addf(line int, format string, a ...any) {
	l.problems = append(l.problems, Problem{File: l.file, Line: line, Msg: fmt.Sprintf(format, a...)})
}

// Lint checks a kickstart against RHEL 6.5's syntax (pykickstart 1.74.14)
// and against sense: sections closed with %end, partitioning references
// consistent, RAID levels possible, mount points unique, and every %pre,
// %post and %traceback body passing bash -n. name is the file name used in
// problems. It returns an error only when bash cannot be run.
func Lint(ctx context.Context, name string, data []byte) ([]Problem, error) {
	l := &linter{file: name, cmds: rhel6Commands()}
	l.parse(data)
	l.checkCommands()
	l.checkRequired()
	l.checkStorage()
	if err := l.checkScripts(ctx); err != nil {
		return nil, err
	}
	return sortProblems(l.problems), nil
}

// parse walks the file line by line: commands at the top level, sections
// from a %-header to %end.
func (l *linter) parse(data []byte) {
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	l.lines = len(lines)
	var (
		open     string // section being read, "" at top level
		openLine int
		cur      *script
	)
	closeSection := func() {
		if cur != nil {
			l.scripts = append(l.scripts, *cur)
			cur = nil
		}
		open = ""
	}
	for i, raw := range lines {
		n := i + 1
		trim := strings.TrimSpace(raw)
		if open != "" && trim != "%end" && !isSectionHeader(trim) {
			if cur != nil {
				cur.body = append(cur.body, raw)
			}
			continue
		}
		if trim == "" || strings.HasPrefix(trim, "#") {
			continue
		}
		toks, err := splitArgs(trim)
		if err != nil {
			l.addf(n, "%v", err)
			continue
		}
		if len(toks) == 0 {
			continue
		}
		switch {
		case toks[0] == "%end":
			if open == "" {
				l.addf(n, "%%end closes no section")
			}
			closeSection()
		case strings.HasPrefix(toks[0], "%"):
			if open != "" {
				l.addf(openLine, "section %s is not closed with %%end before line %d (an error for newer parsers, a warning on 6.5)", open, n)
				closeSection()
			}
			if toks[0] == "%include" || toks[0] == "%ksappend" {
				if len(toks) != 2 {
					l.addf(n, "%s takes one file", toks[0])
				}
				continue
			}
			open, openLine = toks[0], n
			cur = l.section(n, toks)
		default:
			l.command(n, toks)
		}
	}
	if open != "" {
		l.addf(openLine, "section %s is not closed with %%end", open)
		closeSection()
	}
}

// isSectionHeader reports whether a line inside a section starts another
// one, which means the open section lacks its %end.
func isSectionHeader(trim string) bool {
	f := strings.Fields(trim)
	if len(f) == 0 {
		return false
	}
	_, known := sectionOpts(f[0])
	return known || f[0] == "%onerror" || f[0] == "%pre-install"
}

// section checks a section header and returns the script it opens, if any.
func (l *linter) section(n int, toks []string) *script {
	name := toks[0]
	opts, ok := sectionOpts(name)
	if !ok {
		switch name {
		case "%onerror", "%pre-install", "%addon", "%anaconda":
			l.addf(n, "section %s does not exist in RHEL 6.5 (it came with RHEL 7)", name)
		default:
			l.addf(n, "unknown section %s", name)
		}
		return nil
	}
	parsed, _ := l.options(n, name, toks[1:], opts)
	if name == "%packages" {
		return nil
	}
	s := &script{line: n, interpreter: parsed["--interpreter"]}
	return s
}

// command checks one command line against the RHEL6 table.
func (l *linter) command(n int, toks []string) {
	name := toks[0]
	spec, ok := l.cmds[name]
	if !ok {
		if why := laterCommands(name); why != "" {
			l.addf(n, "%s is not a RHEL 6.5 kickstart command: %s", name, why)
		} else {
			l.addf(n, "%s is not a RHEL 6.5 kickstart command", name)
		}
		return
	}
	c := command{line: n, name: name, opts: map[string]string{}}
	if spec.opts == nil { // passed through raw (authconfig)
		c.args = toks[1:]
	} else {
		c.opts, c.args = l.options(n, name, toks[1:], spec.opts)
	}
	switch {
	case name == "zerombr" && len(c.args) > 0:
		l.addf(n, "zerombr takes no argument in RHEL 6.5")
	case spec.maxArgs >= 0 && len(c.args) > spec.maxArgs:
		l.addf(n, "%s takes at most %d arguments, got %q", name, spec.maxArgs, strings.Join(c.args, " "))
	case len(c.args) < spec.minArgs:
		l.addf(n, "%s needs at least %d arguments", name, spec.minArgs)
	}
	l.parsed = append(l.parsed, c)
}

// options parses --opt, --opt=value and --opt value against known,
// reporting unknown options and misuse. It returns the options and the
// positional arguments.
func (l *linter) options(n int, name string, toks []string, known map[string]bool) (map[string]string, []string) {
	opts := map[string]string{}
	var args []string
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if !strings.HasPrefix(t, "--") {
			if strings.HasPrefix(t, "-") && len(t) > 1 {
				l.addf(n, "%s: unknown option %s", name, t)
				continue
			}
			args = append(args, t)
			continue
		}
		opt, val, hasVal := strings.Cut(t, "=")
		takes, ok := known[opt]
		switch {
		case !ok:
			if why := laterOptions(name, opt); why != "" {
				l.addf(n, "%s %s %s, not RHEL 6.5", name, opt, why)
			} else {
				l.addf(n, "%s: unknown option %s in RHEL 6.5", name, opt)
			}
			continue
		case takes && !hasVal:
			if i+1 >= len(toks) {
				l.addf(n, "%s %s needs a value", name, opt)
				continue
			}
			i++
			val = toks[i]
		case !takes && hasVal:
			l.addf(n, "%s %s takes no value", name, opt)
		}
		if _, dup := opts[opt]; dup {
			l.addf(n, "%s: option %s given twice", name, opt)
		}
		opts[opt] = val
	}
	return opts, args
}

// checkCommands checks option values of single commands.
func (l *linter) checkCommands() {
	for _, c := range l.parsed {
		switch c.name {
		case "network":
			if bp, ok := c.opts["--bootproto"]; ok {
				switch bp {
				case "dhcp", "bootp", "static", "query", "ibft":
				default:
					l.addf(c.line, "network --bootproto=%s is not valid in RHEL 6 (dhcp, bootp, static, query or ibft)", bp)
				}
			}
			if c.opts["--bootproto"] == "static" {
				for _, o := range []string{"--ip", "--netmask"} {
					if _, ok := c.opts[o]; !ok {
						l.addf(c.line, "network --bootproto=static needs %s", o)
					}
				}
			}
			l.checkNetwork(c)
		case "bootloader":
			if loc, ok := c.opts["--location"]; ok && loc != "mbr" && loc != "partition" && loc != "none" && loc != "boot" {
				l.addf(c.line, "bootloader --location=%s is not mbr, partition, boot or none", loc)
			}
		case "url":
			if _, ok := c.opts["--url"]; !ok {
				l.addf(c.line, "url needs --url")
			}
		case "logvol":
			for _, o := range []string{"--vgname", "--name"} {
				if _, ok := c.opts[o]; !ok {
					l.addf(c.line, "logvol needs %s", o)
				}
			}
		}
	}
}

// checkScripts runs bash -n on every shell body (%pre, %post and
// %traceback with no --interpreter, or /bin/sh or /bin/bash). Other
// interpreters (python) are not checked.
func (l *linter) checkScripts(ctx context.Context) error {
	var bash string
	for _, s := range l.scripts {
		if s.interpreter != "" && !strings.HasSuffix(s.interpreter, "/bash") && !strings.HasSuffix(s.interpreter, "/sh") {
			continue
		}
		if bash == "" {
			p, err := exec.LookPath("bash")
			if err != nil {
				return fmt.Errorf("kickstart lint %s: bash -n: %w", l.file, err)
			}
			bash = p
		}
		cmd := exec.CommandContext(ctx, bash, "-n")
		cmd.Stdin = strings.NewReader(strings.Join(s.body, "\n") + "\n")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if ctx.Err() != nil {
			return fmt.Errorf("kickstart lint %s: %w", l.file, ctx.Err())
		}
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			return fmt.Errorf("kickstart lint %s: bash -n on the section at line %d: %w", l.file, s.line, err)
		}
		for _, msg := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
			if msg == "" {
				continue
			}
			k, text := bashLine(msg)
			if strings.HasPrefix(text, "`") && strings.HasSuffix(text, "'") {
				continue // bash echoes the offending line after the error
			}
			// An error at the end of input (an unclosed if or here
			// document) is past the body: name the file's last line.
			l.addf(min(s.line+k, l.lines), "bash -n: %s", text)
		}
	}
	return nil
}

// bashLine splits "bash: line 3: syntax error ..." into the line within
// the script (0 when bash names none) and the message.
func bashLine(msg string) (int, string) {
	_, rest, ok := strings.Cut(msg, "line ")
	if !ok {
		return 0, msg
	}
	num, text, ok := strings.Cut(rest, ": ")
	k, err := strconv.Atoi(num)
	if !ok || err != nil {
		return 0, msg
	}
	return k, text
}
