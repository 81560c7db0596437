package tftp

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"unicode/utf8"
)

// MaxPathLen bounds a requested file name. Firmware asks for names from a
// DHCP file field (128 bytes) or an iPXE script; 255 is plenty.
const MaxPathLen = 255

// ErrBadPath is wrapped by every refusal of CleanPath.
var ErrBadPath = errors.New("refused file name")

// CleanPath checks a file name exactly as it arrived in a read request
// (pin/tftp hands it over raw) and returns it unchanged when it is a
// clean relative path, else an error wrapping ErrBadPath. It refuses
// rather than repairs: a client asking for "/x", "a//b" or "a\b" gets an
// error, never a guess. os.Root guards the filesystem behind it; this is
// the first wall and the one that gives a clear reason.
func CleanPath(name string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w: %s", ErrBadPath, why)
	}
	switch {
	case name == "":
		return bad("empty name")
	case len(name) > MaxPathLen:
		return bad(fmt.Sprintf("name of %d bytes, more than %d", len(name), MaxPathLen))
	case strings.IndexByte(name, 0) >= 0:
		return bad("NUL in name")
	case strings.IndexByte(name, '\\') >= 0:
		return bad("backslash in name")
	case name[0] == '/':
		return bad("absolute path")
	case !utf8.ValidString(name):
		return bad("name is not UTF-8")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return bad("control character in name")
		}
	}
	for _, elem := range strings.Split(name, "/") {
		switch elem {
		case "..":
			return bad("'..' in path")
		case ".", "":
			return bad("empty or '.' path element")
		}
	}
	if !fs.ValidPath(name) {
		return bad("not a valid path")
	}
	return name, nil
}
