package tftp

import (
	"bytes"
	"encoding/binary"
	"net"
	"strconv"
)

// TFTP opcodes (RFC 1350, RFC 2347).
const (
	opRRQ   = 1
	opDATA  = 3
	opACK   = 4
	opERROR = 5
	opOACK  = 6
)

// rrq is a read request as pin/tftp reads one: the name and the mode,
// then option pairs, a later pair replacing an earlier one of the same
// name; option names are case-sensitive.
type rrq struct {
	name    string
	blksize string // the value asked for; "" when not asked
	tsize   bool
}

// parseRRQ reads p as a read request the lane serves, false for
// anything else: a write request, netascii mode (pin/tftp converts line
// ends), or a packet pin/tftp would not read as a request.
func parseRRQ(p []byte) (rrq, bool) {
	var r rrq
	if len(p) < 4 || binary.BigEndian.Uint16(p) != opRRQ {
		return r, false
	}
	f := bytes.Split(p[2:], []byte{0})
	if len(f) < 2 || string(f[1]) == "netascii" {
		return r, false
	}
	r.name = string(f[0])
	if len(f) < 4 {
		return r, true
	}
	for i := 2; i+1 < len(f); i += 2 {
		switch string(f[i]) {
		case "blksize":
			r.blksize = string(f[i+1])
		case "tsize":
			r.tsize = true
		}
	}
	return r, true
}

// negotiate answers r's options for a file of size with at most
// maxBlock bytes a block: the OACK to send (nil for none) and the block
// size.
func negotiate(r rrq, maxBlock int, size int64) (oack []byte, blksize int) {
	blksize = 512
	oack = []byte{0, opOACK}
	if n, err := strconv.Atoi(r.blksize); err == nil && n >= 512 && n <= 65464 {
		v := r.blksize
		if n > maxBlock {
			n, v = maxBlock, strconv.Itoa(maxBlock)
		}
		blksize = n
		oack = append(append(append(oack, "blksize\x00"...), v...), 0)
	}
	if r.tsize && size != 0 {
		oack = append(strconv.AppendInt(append(oack, "tsize\x00"...), size, 10), 0)
	}
	if len(oack) == 2 {
		return nil, blksize
	}
	return oack, blksize
}

// maxBlock is the largest block a request that came in on interface
// ifindex may negotiate, as pin/tftp works it out: the interface MTU
// less the IP and UDP headers, capped at MaxBlockSize, 512 when the
// interface is unknown.
func (s *Server) maxBlock(ifindex int, v6 bool) int {
	n := 512
	if ifindex > 0 {
		if ifi, err := net.InterfaceByIndex(ifindex); err == nil {
			n = ifi.MTU - 28
			if v6 {
				n = ifi.MTU - 48
			}
		}
	}
	if s.MaxBlockSize > 512 && s.MaxBlockSize < 65465 && s.MaxBlockSize < n {
		n = s.MaxBlockSize
	}
	return max(n, 512)
}
