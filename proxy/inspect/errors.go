package inspect

import "errors"

// Reason says why a connection was closed; its String is the `reason` label
// of privlink_inspect_errors_total and the `reason` field of the log line.
type Reason uint8

// The reasons, a fixed set.
const (
	ReasonNone         Reason = iota
	ReasonUntrusted           // header (or, with Require, any connection) from a source outside Trust
	ReasonMissing             // Require is set and the first bytes are not a PROXY header
	ReasonEmpty               // Require is set and the client closed before sending a byte
	ReasonTimeout             // a header not complete within the header timeout or one that came late; with Require, nothing within it
	ReasonSplit               // Strict is set and the first read ended inside the header: split across reads or a slow sender
	ReasonMalformed           // a PROXY signature followed by an invalid header or TLV list, or by the end of the stream
	ReasonOversize            // v2 length above 4096 or a v1 line longer than 107 bytes
	ReasonCRCMismatch         // the CRC32C TLV does not match the header
	ReasonStacked             // a second PROXY header right after the first
	ReasonUpstreamDial        // the upstream could not be reached
	numReasons
)

// Sentinel errors, one per Reason; errors returned by this package wrap them.
var (
	ErrUntrusted    = errors.New("inspect: source is not trusted to send PROXY headers")
	ErrMissing      = errors.New("inspect: PROXY header required but missing")
	ErrEmpty        = errors.New("inspect: connection closed before sending any byte")
	ErrTimeout      = errors.New("inspect: no PROXY header within the header timeout")
	ErrSplit        = errors.New("inspect: PROXY header incomplete in the first read (split across reads or sent slowly)")
	ErrMalformed    = errors.New("inspect: malformed PROXY header")
	ErrOversize     = errors.New("inspect: PROXY header too long")
	ErrCRCMismatch  = errors.New("inspect: PROXY header CRC32C mismatch")
	ErrStacked      = errors.New("inspect: second PROXY header after the first (stacked)")
	ErrUpstreamDial = errors.New("inspect: cannot connect to the upstream")
)

// ErrNoHeader is returned by Decode when the bytes do not start with a PROXY
// protocol signature. It is not a Reason: without Require such a connection
// is forwarded as it is.
var ErrNoHeader = errors.New("inspect: no PROXY header")

var reasons = [numReasons]struct {
	name string
	err  error
}{
	ReasonNone:         {"", nil},
	ReasonUntrusted:    {"untrusted", ErrUntrusted},
	ReasonMissing:      {"missing", ErrMissing},
	ReasonEmpty:        {"empty", ErrEmpty},
	ReasonTimeout:      {"timeout", ErrTimeout},
	ReasonSplit:        {"split", ErrSplit},
	ReasonMalformed:    {"malformed", ErrMalformed},
	ReasonOversize:     {"oversize", ErrOversize},
	ReasonCRCMismatch:  {"crc_mismatch", ErrCRCMismatch},
	ReasonStacked:      {"stacked", ErrStacked},
	ReasonUpstreamDial: {"upstream_dial", ErrUpstreamDial},
}

func (r Reason) String() string {
	if r >= numReasons {
		return "unknown"
	}
	return reasons[r].name
}

// Err is the sentinel error of r (nil for ReasonNone).
func (r Reason) Err() error {
	if r >= numReasons {
		return nil
	}
	return reasons[r].err
}

// Reasons lists every Reason but ReasonNone, in declaration order.
func Reasons() []Reason {
	out := make([]Reason, 0, numReasons-1)
	for r := ReasonNone + 1; r < numReasons; r++ {
		out = append(out, r)
	}
	return out
}

// ReasonOf returns the Reason whose sentinel err wraps, or ReasonNone.
func ReasonOf(err error) Reason {
	if err == nil {
		return ReasonNone
	}
	for r := ReasonNone + 1; r < numReasons; r++ {
		if errors.Is(err, reasons[r].err) {
			return r
		}
	}
	return ReasonNone
}
