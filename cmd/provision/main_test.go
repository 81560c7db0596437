package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/provision/provision/internal/sitetest"
)

// result is what one in-process run of the CLI printed and returned.
type result struct {
	stdout, stderr string
	code           int
	err            error
}

// runCLI runs the provision command in-process with args and an
// environment (nil: empty) and returns its output and exit status, as
// main would compute it.
func runCLI(t testing.TB, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) string { return env[k] }
	err := run(context.Background(), args, strings.NewReader(stdin), &out, &errb, getenv)
	r := result{stdout: out.String(), stderr: errb.String(), err: err}
	if err != nil {
		r.code = 1
		var ee exitError
		if errors.As(err, &ee) {
			r.code = ee.code
		}
	}
	return r
}

// copySite copies an example site and its secrets (mode 0600) into a
// temporary directory and returns the site file's path.
func copySite(t testing.TB, name string) string {
	t.Helper()
	return sitetest.Copy(t, name)
}
