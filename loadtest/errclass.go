package loadtest

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// ErrorClass groups failed operations by what the client saw happen.
type ErrorClass uint8

// Error classes, in report order.
const (
	// ErrRefused: the connection attempt was answered with RST
	// (ECONNREFUSED): nothing listens there.
	ErrRefused ErrorClass = iota
	// ErrResetBeforeData: the handshake completed, then the peer reset the
	// connection (ECONNRESET, EPIPE, ECONNABORTED) before the client
	// received a single byte on it, on its first operation (or connect
	// itself reported the reset: on loopback the peer can accept and reset
	// before the connecting thread runs again). Through privlink (or NLB)
	// this is what every refusal after the accept looks like: a port
	// allocation error, a target that refused or did not answer the
	// node's dial, a denial with deny_action reset, no registered target.
	// The client cannot tell them apart; privlink's failed and denied
	// connection events and its metrics can.
	ErrResetBeforeData
	// ErrReset: the peer reset the connection after data came back (or on
	// a later operation: an echo's second message, a stream's second
	// chunk).
	ErrReset
	// ErrTimeout: a connect, message or chunk did not complete within
	// Options.Timeout (or the kernel gave up on the SYN: ETIMEDOUT).
	ErrTimeout
	// ErrOther: anything else: the peer closed before answering (EOF), an
	// echo answered wrong bytes, no local port or address was free
	// (EADDRNOTAVAIL, EADDRINUSE), an unreachable network.
	ErrOther
	numErrorClasses
)

// ErrPortAllocation was the class of a reset right after connect.
//
// Deprecated: a client cannot tell a port allocation error from the other
// refusals that reset a connection before any data; this is
// ErrResetBeforeData.
const ErrPortAllocation = ErrResetBeforeData

var errorClassNames = [numErrorClasses]string{"refused", "reset_before_data", "reset", "timeout", "other"}

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
// between reset_before_data and reset.
type opState struct {
	established time.Time // handshake completed; zero = during connect
	received    bool      // at least one byte arrived on the connection
	firstOp     bool      // the error is on the connection's first operation
	deadline    time.Time // the connection's current deadline (echo)
}

// classify returns the class of err for an operation in state st.
func classify(err error, st opState) ErrorClass {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return ErrRefused
	case isReset(err):
		// A reset cannot answer a SYN (that is ECONNREFUSED): during
		// connect, the handshake completed and the peer reset the
		// connection before the connecting thread returned.
		if st.established.IsZero() || !st.received && st.firstOp {
			return ErrResetBeforeData
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
