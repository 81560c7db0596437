package simnode

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// fileOp is one effect of %post on the disk: a file written by a quoted
// here-document, a chmod, or an install -d.
type fileOp struct {
	kind    string // write, chmod, mkdir
	path    string // absolute, in the node's file system
	content string
	mode    os.FileMode
}

// postStep is one thing %post does, in order: a file operation or a
// report.
type postStep struct {
	op     *fileOp
	report *report
}

// parsePost reads %post's effects as kickstart.writeFiles and the
// templates write them: `cat > PATH <<'DELIM'` ... DELIM, `chmod MODE
// PATH`, `install -d -m MODE DIR`, and top-level report lines. Other
// commands (restorecon, mkfs.xfs, vgs) act on the real machine and are not
// simulated.
func parsePost(body []string) ([]postStep, error) {
	var steps []postStep
	for i := 0; i < len(body); i++ {
		line := body[i]
		if r, ok := reportLine(line); ok {
			steps = append(steps, postStep{report: &r})
			continue
		}
		w := words(strings.TrimSpace(line))
		switch {
		case len(w) == 4 && w[0] == "cat" && w[1] == ">" && strings.HasPrefix(w[3], "<<"):
			delim := strings.TrimPrefix(w[3], "<<")
			var b strings.Builder
			end := -1
			for j := i + 1; j < len(body); j++ {
				if body[j] == delim {
					end = j
					break
				}
				b.WriteString(body[j] + "\n")
			}
			if end < 0 {
				return nil, fmt.Errorf("%%post: here-document for %s has no %s line", w[2], delim)
			}
			steps = append(steps, postStep{op: &fileOp{kind: "write", path: w[2], content: b.String(), mode: 0o644}})
			i = end
		case len(w) == 3 && w[0] == "chmod":
			m, err := strconv.ParseUint(w[1], 8, 32)
			if err != nil {
				return nil, fmt.Errorf("%%post: chmod %s %s: %w", w[1], w[2], err)
			}
			steps = append(steps, postStep{op: &fileOp{kind: "chmod", path: w[2], mode: os.FileMode(m)}})
		case len(w) == 5 && w[0] == "install" && w[1] == "-d" && w[2] == "-m":
			m, err := strconv.ParseUint(w[3], 8, 32)
			if err != nil {
				return nil, fmt.Errorf("%%post: install -d -m %s %s: %w", w[3], w[4], err)
			}
			steps = append(steps, postStep{op: &fileOp{kind: "mkdir", path: w[4], mode: os.FileMode(m)}})
		}
	}
	return steps, nil
}

// post runs %post: its files written under RootDir, its reports sent,
// in the script's order.
func (n *node) post(ctx context.Context, ks ksScripts, cb callbacks) error {
	steps, err := parsePost(ks.post)
	if err != nil {
		n.fail(PhaseInstaller, "post", err.Error())
		cb.post(ctx, "failed", "post-install step failed: "+err.Error())
		return nil
	}
	files, err := n.runPost(steps, func(r report) { cb.post(ctx, r.state, r.msg) })
	if err != nil {
		return err
	}
	n.step(PhaseInstaller, "post", fmt.Sprintf("%%post wrote %d files under %s", files, n.cfg.RootDir))
	return ctx.Err()
}

// runPost does %post's steps in order under RootDir, handing each report
// to onReport, and returns how many files it wrote.
func (n *node) runPost(steps []postStep, onReport func(report)) (files int, err error) {
	root, err := os.OpenRoot(n.cfg.RootDir)
	if err != nil {
		return 0, fmt.Errorf("root dir: %w", err)
	}
	defer root.Close()
	for _, s := range steps {
		if s.report != nil {
			onReport(*s.report)
			continue
		}
		if err := apply(root, *s.op); err != nil {
			return files, fmt.Errorf("%%post: %w", err)
		}
		if s.op.kind == "write" {
			files++
		}
	}
	return files, nil
}

// apply does op inside root: os.Root keeps every path under it.
func apply(root *os.Root, op fileOp) error {
	rel := strings.TrimLeft(filepath.Clean(op.path), "/")
	if rel == "" || rel == "." {
		return fmt.Errorf("%s: not a file path", op.path)
	}
	switch op.kind {
	case "write":
		if dir := filepath.Dir(rel); dir != "." {
			if err := root.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("%s: %w", op.path, err)
			}
		}
		if err := root.WriteFile(rel, []byte(op.content), op.mode); err != nil {
			return fmt.Errorf("%s: %w", op.path, err)
		}
	case "chmod":
		if err := root.Chmod(rel, op.mode); err != nil {
			return fmt.Errorf("%s: %w", op.path, err)
		}
	case "mkdir":
		if err := root.MkdirAll(rel, op.mode); err != nil {
			return fmt.Errorf("%s: %w", op.path, err)
		}
		if err := root.Chmod(rel, op.mode); err != nil {
			return fmt.Errorf("%s: %w", op.path, err)
		}
	}
	return nil
}

// wipe is clearpart --all: the previous install's file system goes. Only
// the directories a %post writes are removed, and the node's own state
// but for its record of the links it made.
func (n *node) wipe() error {
	var errs []error
	for _, d := range []string{"etc", "root", "var"} {
		errs = append(errs, os.RemoveAll(filepath.Join(n.cfg.RootDir, d)))
	}
	if err := os.Remove(n.installedMarker()); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("wipe the disk: %w", err)
	}
	return nil
}
