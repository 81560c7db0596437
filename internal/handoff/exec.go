package handoff

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/provision/provision/provision"
	"golang.org/x/crypto/ssh"
)

// maxLine bounds one output line; longer lines are split.
const maxLine = 64 << 10

// command runs cmd and returns an error unless it exits 0.
func command(ctx context.Context, client *ssh.Client, cmd string) error {
	s, err := client.NewSession()
	if err != nil {
		return fmt.Errorf("ssh session: %w", err)
	}
	defer s.Close()
	out, err := s.CombinedOutput(cmd)
	if err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return fmt.Errorf("%w: %s", err, firstLine(out))
	}
	return nil
}

// apply runs apply.sh from the bundle directory and streams each line it
// prints into the node's events.
func apply(ctx context.Context, client *ssh.Client, node string, cfg *Config) error {
	s, err := client.NewSession()
	if err != nil {
		return fmt.Errorf("ssh session: %w", err)
	}
	defer s.Close()
	stdout, err := s.StdoutPipe()
	if err != nil {
		return fmt.Errorf("ssh session: %w", err)
	}
	stderr, err := s.StderrPipe()
	if err != nil {
		return fmt.Errorf("ssh session: %w", err)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		last string
	)
	stream := func(r io.Reader, name string) {
		defer wg.Done()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 4096), maxLine)
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			last = line
			mu.Unlock()
			cfg.Events(provision.Event{Node: node, Source: provision.SourceProfile, Kind: KindOutput, Msg: line,
				Attrs: map[string]string{"stream": name}})
		}
	}
	cmd := "cd " + shellQuote(cfg.RemoteDir) + " && " + cfg.Command
	if err := s.Start(cmd); err != nil {
		return fmt.Errorf("start apply.sh: %w", err)
	}
	// The readers end when the command's streams close: at its exit, or
	// when ctx closes the connection.
	wg.Add(2)
	go stream(stdout, "stdout")
	go stream(stderr, "stderr")
	werr := s.Wait()
	wg.Wait()
	if werr == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%w: stopped: %v", ErrApply, context.Cause(ctx))
	}
	var ee *ssh.ExitError
	if errors.As(werr, &ee) {
		return fmt.Errorf("%w: exit status %d: %s", ErrApply, ee.ExitStatus(), last)
	}
	return fmt.Errorf("%w: %v", ErrApply, werr)
}

func firstLine(b []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	if sc.Scan() {
		return sc.Text()
	}
	return ""
}
