package loadtest

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// ErrorClass groups failed operations by what the client saw.
type ErrorClass uint8

// Error classes, in report order.
const (
	// ErrRefused: the connection attempt was answered with RST
	// (ECONNREFUSED): nothing listens, or a proxy refused it.
	ErrRefused ErrorClass = iota
	// ErrReset: an established connection was reset by the peer
	// (ECONNRESET, EPIPE) in any situation that is not port_allocation.
	ErrReset
	// ErrTimeout: a connect, message or chunk did not complete within
	// Options.Timeout (or the kernel gave up on the SYN: ETIMEDOUT).
	ErrTimeout
	// ErrPortAllocation: a reset "right after connect", which is how a
	// client sees an NLB port allocation error. Precisely: the TCP
	// handshake completed, the peer reset the connection before the
	// client received a single byte on it, the reset was seen on the
	// connection's first operation, and at most Options.ResetWindow after
	// the handshake completed (or connect itself reported the reset: on
	// loopback the peer can accept and reset the connection before the
	// connecting thread runs again). A reset after a byte was received, on a
	// later message, or later than the window is ErrReset. Only
	// operations that send and wait for bytes can see it (connect mode
	// with Size 0 closes before a reset could arrive). On a loaded host a
	// target that resets instantly is indistinguishable from this; the
	// proxy's own counter (privlink_port_allocation_errors_total) is the
	// authority.
	ErrPortAllocation
	// ErrOther: anything else: the peer closed before answering (EOF), an
	// echo answered wrong bytes, no local port or address was free
	// (EADDRNOTAVAIL, EADDRINUSE), an unreachable network.
	ErrOther
	numErrorClasses
)

var errorClassNames = [numErrorClasses]string{"refused", "reset", "timeout", "port_allocation", "other"}

func (c ErrorClass) String() string {
	if c < numErrorClasses {
		return errorClassNames[c]
	}
	return "unknown"
}

// ErrorClasses lists every class in report order.
func ErrorClasses() []ErrorClass {
	out := make([]ErrorClass, numErrorClasses)
	for i := range out {
		out[i] = ErrorClass(i)
	}
	return out
}

// errMismatch is an echo that answered other bytes than were sent.
var errMismatch = errors.New("echo answered different bytes")

// opState is what a connection had seen when an error struck; it decides
// between reset and port_allocation.
type opState struct {
	established time.Time // handshake completed; zero = during connect
	received    bool      // at least one byte arrived on the connection
	firstOp     bool      // the error is on the connection's first operation
	deadline    time.Time // the connection's current deadline (echo)
}

// classify returns the class of err for an operation in state st, seen at
// time now.
func classify(err error, st opState, now time.Time, window time.Duration) ErrorClass {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return ErrRefused
	case isReset(err):
		if st.established.IsZero() {
			// A reset cannot answer a SYN (that is ECONNREFUSED): the
			// handshake completed and the peer reset the connection
			// before the connecting thread even returned from connect.
			return ErrPortAllocation
		}
		if !st.received && st.firstOp && now.Sub(st.established) <= window {
			return ErrPortAllocation
		}
		return ErrReset
	case isTimeout(err):
		return ErrTimeout
	}
	return ErrOther
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED)
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// eofError makes a clean EOF in the middle of an exchange an error.
func eofError(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
