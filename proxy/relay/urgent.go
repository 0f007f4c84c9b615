package relay

import (
	"golang.org/x/sys/unix"

	"github.com/privlink/privlink/internal/rawsock"
)

// Urgent data (TCP's urgent pointer, send with MSG_OOB). NLB forwards a
// connection's segments, URG flag included; a relay can pass on its bytes
// only. privlink delivers urgent bytes in-line, in their place in the
// stream: the peer reads what a receiver with SO_OOBINLINE reads on a
// direct connection (RFC 6093 advises applications to use it).
//
// The socket that receives them must have SO_OOBINLINE, or reads skip the
// urgent byte. privlink's listening sockets set it, and accepted sockets
// inherit it; on other sockets the relay sets it when an event first
// shows urgent data (EPOLLPRI), before anything reads past the mark.
// splice(2) stops at the urgent mark even in-line (it then returns
// EAGAIN, or 0 once a FIN is queued behind), so a direction with urgent
// data announced reads through the loop's buffer until the socket is
// drained, and a splice that returns 0 is an end of stream only if the
// socket is not at the mark.

// urgentData prepares the socket for urgent data announced by an event.
func (s *side) urgentData() {
	if !s.inline {
		s.inline = true
		rawsock.SetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_OOBINLINE, 1)
	}
	s.urgent = true
}

// atMark reports whether the next byte to read is urgent data (SIOCATMARK).
func (s *side) atMark() bool {
	v, err := unix.IoctlGetInt(s.fd, unix.SIOCATMARK)
	return err == nil && v != 0
}
