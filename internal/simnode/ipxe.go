package simnode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// actionKind is what a boot script ends in.
type actionKind int

const (
	// actionLocal: exit or sanboot, or the script ended: the firmware
	// boots its next device, the local disk.
	actionLocal actionKind = iota
	// actionInstall: kernel and initrd loaded and booted.
	actionInstall
	// actionHalt: the node stops at an error.
	actionHalt
)

// action is the outcome of the boot loader.
type action struct {
	kind    actionKind
	kernel  string   // URL
	args    []string // kernel command line, expanded
	initrds []string // URLs
}

// ipxeEnv is what the script interpreter reads and does.
type ipxeEnv struct {
	platform string // pcbios or efi, iPXE's ${platform}
	mac      net.HardwareAddr
	fetch    func(ctx context.Context, url string) (int64, error)
	log      func(what, msg string)

	kernel  string
	args    []string
	initrds []string
}

// maxSteps bounds the commands one script runs (a goto loop).
const maxSteps = 10000

// errJump ends a command line after a goto.
var errJump = errors.New("goto")

// result of one command: ok, or an action that ends the script.
type result struct {
	ok   bool
	done *action
	jump int // line to go to, when >= 0
}

// run interprets an iPXE script: the commands bootcfg renders (kernel,
// initrd, boot, exit, sanboot, echo, sleep, iseq, goto) with
// labels, && and ||. Errors are the simulation's (ctx ended); a command
// that fails is a false status, as in iPXE.
func (e *ipxeEnv) run(ctx context.Context, body []byte) (action, error) {
	lines := strings.Split(string(body), "\n")
	if len(lines) == 0 || !strings.HasPrefix(strings.TrimSpace(lines[0]), "#!ipxe") {
		e.log("script", "not an iPXE script (no #!ipxe): iPXE exits, next boot device")
		return action{kind: actionLocal}, nil
	}
	labels := map[string]int{}
	for i, l := range lines {
		if t := strings.TrimSpace(l); strings.HasPrefix(t, ":") {
			labels[strings.TrimPrefix(t, ":")] = i
		}
	}
	steps := 0
	for pc := 0; pc < len(lines); pc++ {
		if steps++; steps > maxSteps {
			e.log("script", "script runs forever: halted")
			return action{kind: actionHalt}, nil
		}
		line := strings.TrimSpace(lines[pc])
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ":") {
			continue
		}
		r, err := e.line(ctx, line, labels)
		if err != nil {
			return action{}, err
		}
		if r.done != nil {
			return *r.done, nil
		}
		if r.jump >= 0 {
			pc = r.jump
		}
	}
	e.log("script", "script ended without booting: iPXE exits, next boot device")
	return action{kind: actionLocal}, nil
}

// line runs "a && b || c" left to right: && runs its command when the
// status so far is true, || when it is false.
func (e *ipxeEnv) line(ctx context.Context, line string, labels map[string]int) (result, error) {
	fields := strings.Fields(line)
	var cmd []string
	var op string
	status := result{ok: true, jump: -1}
	first := true
	flush := func() error {
		if len(cmd) == 0 {
			return nil
		}
		runIt := first || (op == "&&" && status.ok) || (op == "||" && !status.ok)
		first = false
		if !runIt {
			cmd = nil
			return nil
		}
		r, err := e.command(ctx, cmd, labels)
		cmd = nil
		if err != nil {
			return err
		}
		status = r
		if r.done != nil || r.jump >= 0 {
			return errJump
		}
		return nil
	}
	for _, f := range fields {
		if f == "&&" || f == "||" {
			if err := flush(); err != nil {
				break
			}
			op = f
			continue
		}
		cmd = append(cmd, f)
	}
	if err := flush(); err != nil && !errors.Is(err, errJump) {
		return result{}, err
	}
	if ctx.Err() != nil {
		return result{}, ctx.Err()
	}
	return status, nil
}

// command runs one command with its arguments expanded.
func (e *ipxeEnv) command(ctx context.Context, cmd []string, labels map[string]int) (result, error) {
	for i := range cmd {
		cmd[i] = e.expand(cmd[i])
	}
	ok := result{ok: true, jump: -1}
	bad := result{ok: false, jump: -1}
	name, args := cmd[0], cmd[1:]
	switch name {
	case "echo":
		e.log("echo", strings.Join(args, " "))
		return ok, nil
	case "dhcp", "ifconf", "ifopen":
		return ok, nil
	case "goto":
		if len(args) == 1 {
			if at, found := labels[args[0]]; found {
				return result{ok: true, jump: at}, nil
			}
		}
		e.log("goto", fmt.Sprintf("goto %s: no such label", strings.Join(args, " ")))
		return bad, nil
	case "iseq":
		return result{ok: len(args) == 2 && args[0] == args[1], jump: -1}, nil
	case "sleep":
		secs := 0
		if len(args) == 1 {
			secs, _ = strconv.Atoi(args[0])
		}
		if err := wait(ctx, time.Duration(secs)*time.Second); err != nil {
			return bad, err
		}
		return ok, nil
	case "kernel", "imgexec", "chain", "initrd", "module", "imgfetch":
		return e.image(ctx, name, args)
	case "boot":
		if e.kernel == "" {
			e.log("boot", "boot: no kernel loaded")
			return bad, nil
		}
		return result{ok: true, jump: -1, done: &action{kind: actionInstall, kernel: e.kernel, args: e.args, initrds: e.initrds}}, nil
	case "exit":
		e.log("local", "exit: back to the firmware, next boot device")
		return result{ok: true, jump: -1, done: &action{kind: actionLocal}}, nil
	case "sanboot":
		e.log("local", "sanboot "+strings.Join(args, " ")+": boot the local disk")
		return result{ok: true, jump: -1, done: &action{kind: actionLocal}}, nil
	}
	e.log("script", fmt.Sprintf("%s: unknown command", name))
	return bad, nil
}

// image fetches a kernel, initrd or chained script.
func (e *ipxeEnv) image(ctx context.Context, name string, args []string) (result, error) {
	ok := result{ok: true, jump: -1}
	bad := result{ok: false, jump: -1}
	for len(args) > 0 && strings.HasPrefix(args[0], "--") {
		// --name NAME, or --name=NAME, --autofree, --replace.
		if args[0] == "--name" || args[0] == "-n" {
			args = args[1:]
		}
		args = args[1:]
	}
	if len(args) == 0 {
		e.log(name, name+": no image")
		return bad, nil
	}
	url := args[0]
	if name == "chain" || name == "imgexec" {
		// bootcfg renders no chain: a chained image would be another
		// loader or script, which this iPXE does not run.
		e.log("script", name+" "+redactURL(url)+": not supported by the simulated iPXE")
		return bad, nil
	}
	n, err := e.fetch(ctx, url)
	if err != nil {
		if ctx.Err() != nil {
			return bad, ctx.Err()
		}
		e.log(name, fmt.Sprintf("%s: %v", name, err))
		return bad, nil
	}
	e.log(name, fmt.Sprintf("%s %s: %d bytes", name, redactURL(url), n))
	if name == "kernel" {
		e.kernel, e.args = url, append([]string(nil), args[1:]...)
	} else if name == "initrd" || name == "module" {
		e.initrds = append(e.initrds, url)
	}
	return ok, nil
}

// expand replaces the iPXE settings bootcfg uses: ${platform},
// ${netX/mac} and ${netX/mac:hexhyp} (also net0, and ${mac}). Unknown
// settings expand to nothing, as in iPXE.
func (e *ipxeEnv) expand(s string) string {
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			return s
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return s
		}
		name := s[i+2 : i+j]
		s = s[:i] + e.setting(name) + s[i+j+1:]
	}
}

func (e *ipxeEnv) setting(name string) string {
	base, typ, _ := strings.Cut(name, ":")
	switch base {
	case "platform":
		return e.platform
	case "buildarch":
		if e.platform == "efi" {
			return "x86_64"
		}
		return "i386"
	case "mac", "netX/mac", "net0/mac":
		if typ == "hexhyp" {
			return strings.ReplaceAll(e.mac.String(), ":", "-")
		}
		return e.mac.String()
	}
	return ""
}
