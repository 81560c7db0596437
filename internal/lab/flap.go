package lab

import (
	"context"
	"log/slog"
	"time"
)

// flapper takes one node's switch port down and up as a LinkFlap says.
type flapper struct {
	flap LinkFlap
	// set brings the port up or down.
	set func(ctx context.Context, up bool) error
	log *slog.Logger
}

// run flaps the port from now until its flaps are done or ctx ends (the
// server is powered off or reset) and returns how many times it took the
// port down. Whatever ends it, it leaves the port up: the next boot, or
// the rest of this one, has its link.
func (f flapper) run(ctx context.Context) int {
	downs := 0
	for f.flap.Times == 0 || downs < f.flap.Times {
		if downs > 0 && !sleep(ctx, f.flap.Period.Duration-f.flap.Down.Duration) || ctx.Err() != nil {
			return downs
		}
		if err := f.setPort(ctx, false); err != nil {
			f.log.Warn("link flap: port down", "err", err)
			return downs
		}
		downs++
		f.log.Info("link down (fault)", "flap", downs, "down_for", f.flap.Down.String())
		sleep(ctx, f.flap.Down.Duration)
		if err := f.setPort(ctx, true); err != nil {
			f.log.Warn("link flap: port up", "err", err)
			return downs
		}
		f.log.Info("link up (fault)", "flap", downs)
	}
	return downs
}

// setPort runs set with a deadline of its own, not ctx's: a port taken
// down must come up again even when ctx ends meanwhile.
func (f flapper) setPort(ctx context.Context, up bool) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return f.set(ctx, up)
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
