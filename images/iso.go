package images

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// isISO9660 reports whether the file at path carries an ISO 9660 primary
// volume descriptor ("CD001" at byte 32769, ECMA-119 8.1). xorriso itself
// treats a file without one as a blank image and extracts nothing with
// exit status 0, so the check has to happen here.
func isISO9660(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var id [5]byte
	if _, err := f.ReadAt(id[:], 16*2048+1); err != nil {
		// A file too short to hold the descriptor is not an ISO.
		return false, nil
	}
	return string(id[:]) == "CD001", nil
}

// extractISO unpacks the ISO image iso into dst (which must not exist)
// with xorriso. The process is killed when ctx ends.
func extractISO(ctx context.Context, xorriso, iso, dst string, size int64, progress func(Progress)) error {
	ok, err := isISO9660(iso)
	if err != nil {
		return fmt.Errorf("import source: %w", err)
	}
	if !ok {
		return fmt.Errorf("import source %s: not an ISO 9660 image (no CD001 volume descriptor)", iso)
	}
	if xorriso == "" {
		xorriso = "xorriso"
	}
	cmd := exec.CommandContext(ctx, xorriso, "-osirrox", "on", "-indev", iso, "-extract", "/", dst)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	out := &xorrisoLog{size: size, progress: progress}
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("extracting %s: %w", iso, ctx.Err())
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("extracting %s: xorriso: %w:\n%s", iso, err, out.tail())
		}
		return fmt.Errorf("extracting %s: %w", iso, err)
	}
	if _, err := os.Stat(dst); err != nil {
		return fmt.Errorf("extracting %s: xorriso extracted nothing:\n%s", iso, out.tail())
	}
	return nil
}

// xorrisoLog keeps the last lines xorriso printed, for error messages,
// and turns its "UPDATE : N files restored (X) ..." lines into progress.
// exec writes to it from one goroutine per stream, hence the lock.
type xorrisoLog struct {
	mu       sync.Mutex
	partial  []byte
	lines    []string
	size     int64
	progress func(Progress)
}

func (l *xorrisoLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimSpace(string(l.partial[:i]))
		l.partial = l.partial[i+1:]
		if line == "" {
			continue
		}
		l.lines = append(l.lines, line)
		if len(l.lines) > 20 {
			l.lines = l.lines[1:]
		}
		if rest, ok := strings.CutPrefix(line, "xorriso : UPDATE :"); ok && strings.Contains(rest, "restored") {
			files, _ := strconv.Atoi(strings.Fields(rest)[0])
			l.progress(Progress{Phase: "extract", Files: files, Total: l.size, Note: strings.TrimSpace(rest)})
		}
	}
	return len(p), nil
}

func (l *xorrisoLog) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(append(l.lines, string(l.partial)), "\n")
}
