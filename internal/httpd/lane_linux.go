package httpd

import (
	"errors"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// sendHeadAndFile writes head, then size bytes of f from its start, to
// c: the head with MSG_MORE, so that the kernel sends it with the file's
// first bytes rather than in a segment of its own, then the file by
// sendfile(2) at an explicit offset (the descriptor's own offset is
// neither used nor moved). It waits for c to take more under c's write
// deadline, and returns the file bytes sent.
func sendHeadAndFile(c *net.TCPConn, head []byte, f *os.File, size int64) (int64, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var werr error
	for len(head) > 0 {
		err = rc.Write(func(fd uintptr) bool {
			var n int
			for {
				n, werr = unix.SendmsgN(int(fd), head, nil, nil, unix.MSG_MORE|unix.MSG_NOSIGNAL)
				if werr != unix.EINTR {
					break
				}
			}
			if werr == unix.EAGAIN {
				return false
			}
			if werr == nil {
				head = head[n:]
			}
			return true
		})
		if err != nil {
			return 0, err
		}
		if werr != nil {
			return 0, werr
		}
	}
	frc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var off int64
	for off < size {
		var ferr error
		err = frc.Control(func(ffd uintptr) {
			ferr = rc.Write(func(fd uintptr) bool {
				var n int
				for {
					n, werr = unix.Sendfile(int(fd), int(ffd), &off, int(min(size-off, 1<<30)))
					if werr != unix.EINTR {
						break
					}
				}
				if werr == unix.EAGAIN {
					return false
				}
				if werr == nil && n == 0 {
					werr = errShortFile
				}
				return true
			})
		})
		if err == nil {
			err = ferr
		}
		if err != nil {
			return off, err
		}
		if werr != nil {
			return off, werr
		}
	}
	return off, nil
}

// errShortFile is a file that ended before the length it had at open.
var errShortFile = errors.New("file shorter than at open")
