package conntrack

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// TCPCounters are a socket's kernel counters from TCP_INFO.
type TCPCounters struct {
	SegsIn, SegsOut uint64 // segments received and sent, with SYN, FIN and pure ACKs
	BytesReceived   uint64 // payload bytes received
	BytesAcked      uint64 // bytes acknowledged by the peer; Linux counts an active open's SYN as one
	BytesSent       uint64 // payload bytes sent, retransmissions included
}

// Counters maps the kernel counters to a socket's Counters. BytesOut is
// the payload acknowledged: bytes_acked without the SYN's sequence number
// an active open counts, bounded by what was sent.
func (c TCPCounters) Counters() Counters {
	return Counters{BytesIn: c.BytesReceived, BytesOut: min(c.BytesAcked, c.BytesSent), PktsIn: c.SegsIn, PktsOut: c.SegsOut}
}

// ReadTCPInfo reads c's TCP_INFO counters without touching its data, so a
// spliced connection can be sampled from another goroutine. It fails once
// the socket is closed: sample before closing to keep the final counts.
func ReadTCPInfo(c *net.TCPConn) (TCPCounters, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return TCPCounters{}, fmt.Errorf("tcp info: %w", err)
	}
	var out TCPCounters
	var serr error
	cerr := rc.Control(func(fd uintptr) {
		info, err := unix.GetsockoptTCPInfo(int(fd), unix.SOL_TCP, unix.TCP_INFO)
		if err != nil {
			serr = err
			return
		}
		out = TCPCounters{
			SegsIn: uint64(info.Segs_in), SegsOut: uint64(info.Segs_out),
			BytesReceived: info.Bytes_received, BytesAcked: info.Bytes_acked, BytesSent: info.Bytes_sent,
		}
	})
	if cerr != nil {
		return TCPCounters{}, fmt.Errorf("tcp info: %w", cerr)
	}
	if serr != nil {
		return TCPCounters{}, fmt.Errorf("tcp info: getsockopt TCP_INFO: %w", serr)
	}
	return out, nil
}
