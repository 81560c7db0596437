package tftp

import (
	"errors"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// poll reads a datagram that has arrived on rc into b, polling for up to
// d and at most tries+1 reads: read(2) on the non-blocking socket, with
// sched_yield(2) between tries so that a client waiting for the same
// CPU gets it. got is false when nothing came in time.
func poll(rc syscall.RawConn, b []byte, d time.Duration, tries int) (n int, got bool, err error) {
	// Control, not Read: Read would first fail on a read deadline that
	// has passed, and would park in the poller when nothing is there.
	cerr := rc.Control(func(fd uintptr) {
		var start time.Time
		for i := 0; ; i++ {
			n, err = unix.Read(int(fd), b)
			if !errors.Is(err, unix.EAGAIN) {
				got = err == nil
				return
			}
			err = nil
			if i == tries {
				return
			}
			// time.Now is cheap, but not free: look every few tries.
			if i%8 == 0 {
				now := time.Now()
				if start.IsZero() {
					start = now
				} else if now.Sub(start) > d {
					return
				}
			}
			_, _, _ = unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
		}
	})
	if cerr != nil {
		return 0, false, cerr
	}
	return n, got, err
}
