package conntrack

import (
	"errors"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/privlink/privlink/internal/rawsock"
)

// TCPCounters are a socket's kernel counters from TCP_INFO.
type TCPCounters struct {
	SegsIn, SegsOut uint64 // segments received and sent, with SYN, FIN and pure ACKs
	BytesReceived   uint64 // payload bytes received
	BytesAcked      uint64 // bytes acknowledged by the peer; Linux counts an active open's SYN as one
	BytesSent       uint64 // payload bytes sent, retransmissions included
	BytesRetrans    uint64 // payload bytes retransmitted
}

// Counters maps the kernel counters to a socket's Counters. BytesOut is
// the payload acknowledged: bytes_acked (which counts an active open's SYN)
// bounded by the payload sent once (bytes_sent counts retransmissions).
func (c TCPCounters) Counters() Counters {
	return Counters{BytesIn: c.BytesReceived, BytesOut: min(c.BytesAcked, c.BytesSent-min(c.BytesRetrans, c.BytesSent)), PktsIn: c.SegsIn, PktsOut: c.SegsOut}
}

// ReadTCPInfo reads c's TCP_INFO counters without touching its data, so a
// spliced connection can be sampled from another goroutine. It fails once
// the socket is closed: sample before closing to keep the final counts.
func ReadTCPInfo(c syscall.Conn) (TCPCounters, error) {
	var info unix.TCPInfo
	if err := readTCPInfo(c, &info); err != nil {
		return TCPCounters{}, err
	}
	return countersOf(&info), nil
}

func countersOf(info *unix.TCPInfo) TCPCounters {
	return TCPCounters{
		SegsIn: uint64(info.Segs_in), SegsOut: uint64(info.Segs_out),
		BytesReceived: info.Bytes_received, BytesAcked: info.Bytes_acked, BytesSent: info.Bytes_sent,
		BytesRetrans: info.Bytes_retrans,
	}
}

// errSocket is the error of a socket whose counters cannot be read (it is
// closed, usually): a shared value, as it is expected at every flow's end.
var errSocket = errors.New("tcp info: the socket cannot be read (closed?)")

// TCPInfoReader is a socket that reads its own TCP_INFO (privlink's
// sockets do): sampling it allocates nothing.
type TCPInfoReader interface {
	TCPInfo(info *unix.TCPInfo) error
}

// readTCPInfo fills info with getsockopt(TCP_INFO) into caller-owned
// memory: a TCPInfoReader directly, another socket through its RawConn
// (whose Control closure allocates).
func readTCPInfo(c syscall.Conn, info *unix.TCPInfo) error {
	if r, ok := c.(TCPInfoReader); ok {
		if r.TCPInfo(info) != nil {
			return errSocket
		}
		return nil
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return errSocket
	}
	var ierr error
	if rc.Control(func(fd uintptr) { ierr = rawsock.TCPInfo(int(fd), info) }) != nil || ierr != nil {
		return errSocket
	}
	return nil
}

// Relay is what ConnStats reads from the relay engine; *relay.Flow
// satisfies it.
type Relay interface {
	Sockets
	Bytes() (ab, ba uint64) // payload relayed client→target and target→client
	LastActivity() time.Time
}

// ConnStats is a Stats over a flow's two sockets: packets (and, when Src
// is not a Relay, bytes) from TCP_INFO; payload bytes and activity from Src
// when it is a Relay (*relay.Flow is). A socket that can no longer be read
// (closed) keeps its last values, so sample it periodically (the flow
// logger's sweep and snapshots do) to keep the final counts close. Embed it
// next to the Entry and set Entry.Stats = &stats: no allocation.
type ConnStats struct {
	Src Sockets

	mu   sync.Mutex
	last Sample
}

// Sockets gives a flow's two sockets (*net.TCPConn or any socket; nil for
// one that is not there).
type Sockets interface {
	Sockets() (client, target syscall.Conn)
}

// tcpInfos are scratch space for samples: kept out of ConnStats, which
// lives as long as its connection.
var tcpInfos = sync.Pool{New: func() any { return new(unix.TCPInfo) }}

// Sample implements Stats.
func (c *ConnStats) Sample() Sample {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Src == nil {
		return c.last
	}
	client, target := c.Src.Sockets()
	info := tcpInfos.Get().(*unix.TCPInfo)
	if client != nil && readTCPInfo(client, info) == nil {
		c.last.Client = countersOf(info).Counters()
	}
	if target != nil && readTCPInfo(target, info) == nil {
		c.last.Target = countersOf(info).Counters()
	}
	tcpInfos.Put(info)
	if r, ok := c.Src.(Relay); ok {
		ab, ba := r.Bytes()
		c.last.Client.BytesIn, c.last.Target.BytesOut = ab, ab
		c.last.Target.BytesIn, c.last.Client.BytesOut = ba, ba
		c.last.LastActivity = r.LastActivity()
	}
	return c.last
}
