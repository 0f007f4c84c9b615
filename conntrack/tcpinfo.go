package conntrack

import (
	"fmt"
	"net"
	"sync"
	"time"

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

// Relay is what ConnStats reads from the relay engine; *relay.Flow
// satisfies it.
type Relay interface {
	Bytes() (ab, ba uint64) // payload relayed client→target and target→client
	LastActivity() time.Time
}

// ConnStats is a Stats over a flow's two sockets: packets (and, without a
// Relay, bytes) from TCP_INFO, payload bytes and activity from the Relay
// when set. A socket that can no longer be read (closed) keeps its last
// values, so sample it periodically (the flow logger's sweep and snapshots
// do) to keep the final counts close. Embed it next to the Entry and set
// Entry.Stats = &stats: no allocation.
type ConnStats struct {
	Client, Target *net.TCPConn
	Relay          Relay

	mu   sync.Mutex
	last Sample
}

// Sample implements Stats.
func (c *ConnStats) Sample() Sample {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Client != nil {
		if tc, err := ReadTCPInfo(c.Client); err == nil {
			c.last.Client = tc.Counters()
		}
	}
	if c.Target != nil {
		if tc, err := ReadTCPInfo(c.Target); err == nil {
			c.last.Target = tc.Counters()
		}
	}
	if c.Relay != nil {
		ab, ba := c.Relay.Bytes()
		c.last.Client.BytesIn, c.last.Target.BytesOut = ab, ab
		c.last.Target.BytesIn, c.last.Client.BytesOut = ba, ba
		c.last.LastActivity = c.Relay.LastActivity()
	}
	return c.last
}
