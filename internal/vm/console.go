package vm

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"time"
)

// WaitConsole waits until the serial console file holds want after
// offset from, and returns the offset just past it. It reads the file
// every 100 ms (QEMU writes it as the guest prints); ctx bounds the
// wait. Seeing any of failOn first is an error at once. Errors end with
// the console's last lines.
func WaitConsole(ctx context.Context, path string, from int64, want string, failOn ...string) (int64, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		data, _ := os.ReadFile(path)
		if int64(len(data)) > from {
			if i := bytes.Index(data[from:], []byte(want)); i >= 0 {
				return from + int64(i+len(want)), nil
			}
			for _, f := range failOn {
				if bytes.Contains(data[from:], []byte(f)) {
					return from, fmt.Errorf("console %s: %q seen before %q; its end:\n%s", path, f, want, tail(data, 1500))
				}
			}
		}
		select {
		case <-ctx.Done():
			return from, fmt.Errorf("console %s: %q not seen: %w; its end:\n%s", path, want, ctx.Err(), tail(data, 1500))
		case <-tick.C:
		}
	}
}

// flat removes the carriage returns of a serial console.
func flat(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\r"), nil) }

func tail(b []byte, n int) []byte {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return flat(b)
}
