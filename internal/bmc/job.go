package bmc

import (
	"context"
	"fmt"
	"time"
)

// step is one part of a BMC job, in rufio's shape: done says whether its
// goal already holds (then it is skipped), run acts, and after run done is
// polled until it holds or wait passes.
type step struct {
	name string
	// done reports whether the goal holds. Nil means the step always
	// runs and needs no verification.
	done func(ctx context.Context, s *session) (bool, error)
	run  func(ctx context.Context, s *session) error
	wait time.Duration
	// skipped, ran: the event kind and message emitted.
	kind          string
	skipped, ran  string
	attrs         map[string]string
	verifyNotDone string // what failed, for the timeout error
}

// runSteps runs a job's steps in order and stops at the first failure.
func (s *session) runSteps(ctx context.Context, steps []step) error {
	for _, st := range steps {
		if st.done != nil {
			ok, err := st.done(ctx, s)
			if err != nil {
				return fmt.Errorf("%s: %w", st.name, err)
			}
			if ok {
				if st.skipped != "" {
					s.c.emit(st.kind, st.skipped, st.attrs)
				}
				continue
			}
		}
		if err := st.run(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", st.name, err)
		}
		if st.done != nil {
			if err := s.waitFor(ctx, st); err != nil {
				return err
			}
		}
		s.c.emit(st.kind, st.ran, st.attrs)
	}
	return nil
}

// waitFor polls a step's goal until it holds or the step's wait passes.
func (s *session) waitFor(ctx context.Context, st step) error {
	deadline := time.Now().Add(st.wait)
	for {
		ok, err := st.done(ctx, s)
		if err != nil {
			return fmt.Errorf("%s: verify: %w", st.name, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %w: %s after %v", st.name, ErrTimeout, st.verifyNotDone, st.wait)
		}
		t := time.NewTimer(s.c.cfg.Timeouts.Poll)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w", st.name, ctx.Err())
		}
	}
}
