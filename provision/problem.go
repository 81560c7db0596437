package provision

import (
	"errors"
	"fmt"
	"strings"
)

// Severity of a Problem.
type Severity int

const (
	// SevError makes a site unusable: check exits 1 and no plan is made.
	SevError Severity = iota
	// SevWarning is reported but does not fail.
	SevWarning
)

// MarshalText writes "error" or "warning" (check --json).
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s Severity) String() string {
	if s == SevWarning {
		return "warning"
	}
	return "error"
}

// Problem is one thing wrong with a site file, located as precisely as the
// checks can: file, line and column, the object (node, role, network ...)
// and its field.
type Problem struct {
	Severity Severity `json:"severity"`
	File     string   `json:"file"`
	Line     int      `json:"line,omitempty"`
	Col      int      `json:"col,omitempty"`
	Object   string   `json:"object,omitempty"` // "node compute05", "role compute"
	Field    string   `json:"field,omitempty"`  // "host", "bond[0].slaves"
	Msg      string   `json:"message"`
}

func (p Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
		if p.Col > 0 {
			fmt.Fprintf(&b, ":%d", p.Col)
		}
	}
	b.WriteString(": ")
	if p.Severity == SevWarning {
		b.WriteString("warning: ")
	}
	if p.Object != "" {
		b.WriteString(p.Object)
		b.WriteString(": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is every problem found in a site.
type Problems []Problem

// Errors returns only the problems of error severity.
func (ps Problems) Errors() Problems {
	var out Problems
	for _, p := range ps {
		if p.Severity == SevError {
			out = append(out, p)
		}
	}
	return out
}

// Err joins the error-severity problems, or returns nil when there are none.
func (ps Problems) Err() error {
	var errs []error
	for _, p := range ps.Errors() {
		errs = append(errs, p)
	}
	return errors.Join(errs...)
}

// collector gathers problems against one site file, locating each by the
// key path it concerns.
type collector struct {
	file  string
	pos   *positions
	probs Problems
}

// add records a problem. path is the key path in the file ("node[3].host")
// used to find the line; object and field are what the operator reads.
func (c *collector) add(sev Severity, path, object, field, format string, args ...any) {
	c.probs = append(c.probs, Problem{
		Severity: sev,
		File:     c.file,
		Line:     c.pos.line(path),
		Object:   object,
		Field:    field,
		Msg:      fmt.Sprintf(format, args...),
	})
}

func (c *collector) errorf(path, object, field, format string, args ...any) {
	c.add(SevError, path, object, field, format, args...)
}

func (c *collector) warnf(path, object, field, format string, args ...any) {
	c.add(SevWarning, path, object, field, format, args...)
}
