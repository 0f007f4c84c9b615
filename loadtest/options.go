package loadtest

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Workload is what the load generator does with its connections.
type Workload string

// Workloads.
const (
	// WorkloadConnect opens a connection, optionally echoes one Size-byte
	// message, and closes it: it measures connections per second.
	WorkloadConnect Workload = "connect"
	// WorkloadEcho keeps Conns connections open and sends Size-byte
	// messages, each answered before the next: messages per second and
	// round-trip latency. The target must echo.
	WorkloadEcho Workload = "echo"
	// WorkloadStream moves bytes as fast as possible over Conns
	// connections: upload (target: sink or echo), download (target:
	// source) or both (target: echo).
	WorkloadStream Workload = "stream"
)

// ParseWorkload returns the Workload named s.
func ParseWorkload(s string) (Workload, error) {
	switch w := Workload(s); w {
	case WorkloadConnect, WorkloadEcho, WorkloadStream:
		return w, nil
	}
	return "", fmt.Errorf("unknown mode %q (use connect, echo or stream)", s)
}

// Defaults applied by Options.withDefaults.
const (
	DefaultTimeout = 5 * time.Second
	// DefaultResetWindow was the default ResetWindow.
	//
	// Deprecated: ResetWindow is ignored.
	DefaultResetWindow = 10 * time.Millisecond
	DefaultStreamSize  = 64 << 10
	// DefaultOpenLoopConns caps the connections in flight of an open-loop
	// run when Conns is 0.
	DefaultOpenLoopConns = 1024
	// MaxSize bounds Size (one message or stream chunk).
	MaxSize = 16 << 20
)

// Options describe one load test. Target, Mode and Duration are required.
type Options struct {
	// Target is the host:port to load.
	Target string
	// Mode is the workload.
	Mode Workload
	// Conns is the number of workers (closed loop: each runs one
	// operation after the other) or, with Rate > 0, the cap on
	// operations in flight (0 = DefaultOpenLoopConns).
	Conns int
	// Rate > 0 runs an open loop: Rate new connections per second in
	// connect mode, Rate messages per second (spread over Conns
	// connections) in echo mode. Latency is measured from each
	// operation's scheduled start, so a slow server cannot hide its
	// queueing delay (coordinated omission). Stream mode has no rate.
	Rate float64
	// Duration bounds the run; in-flight operations are aborted at the
	// end and not counted.
	Duration time.Duration
	// Size is the bytes of one message (connect: 0 = no message, just
	// open and close) or one write/read chunk in stream mode
	// (0 = DefaultStreamSize).
	Size int
	// Source, when valid, spreads the connections' local addresses over
	// the prefix (round robin), so one IP's ephemeral port range is no
	// limit. The addresses must be local (any 127.0.0.0/8 address is).
	Source netip.Prefix
	// Timeout bounds each connect and each message or chunk
	// (0 = DefaultTimeout).
	Timeout time.Duration
	// Upload and Download select the stream directions; neither means
	// Upload.
	Upload, Download bool
	// ResetWindow is ignored.
	//
	// Deprecated: resets are classified by whether data came back, not by
	// how soon they came (see ErrResetBeforeData).
	ResetWindow time.Duration
	// ProgressInterval is how often the progress callback runs
	// (0 = 1s).
	ProgressInterval time.Duration
}

// ErrBadOptions wraps every Options validation error.
var ErrBadOptions = errors.New("loadtest: bad options")

func badOption(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadOptions}, args...)...)
}

// withDefaults validates o and returns it with defaults filled in.
func (o Options) withDefaults() (Options, error) {
	if o.Target == "" {
		return o, badOption("target is required")
	}
	if _, err := ParseWorkload(string(o.Mode)); err != nil {
		return o, badOption("%v", err)
	}
	switch {
	case o.Duration <= 0:
		return o, badOption("duration must be positive, got %s", o.Duration)
	case o.Conns < 0:
		return o, badOption("conns must not be negative, got %d", o.Conns)
	case o.Rate < 0:
		return o, badOption("rate must not be negative, got %g", o.Rate)
	case o.Size < 0 || o.Size > MaxSize:
		return o, badOption("size must be between 0 and %d bytes, got %d", MaxSize, o.Size)
	case o.Timeout < 0 || o.ProgressInterval < 0:
		return o, badOption("timeout and progress interval must not be negative")
	case o.Rate > 0 && o.Mode == WorkloadStream:
		return o, badOption("stream mode has no rate (it sends as fast as it can)")
	case o.Mode == WorkloadEcho && o.Size == 0:
		return o, badOption("echo mode needs size of at least 1 byte")
	}
	if o.Source.IsValid() && hostCount(o.Source.Masked()) == 0 {
		return o, badOption("source %s has no usable host address", o.Source)
	}
	return o.fill(), nil
}

func (o Options) fill() Options {
	o.Source = o.Source.Masked()
	if o.Conns == 0 {
		o.Conns = 1
		if o.Rate > 0 {
			o.Conns = DefaultOpenLoopConns
		}
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.ProgressInterval == 0 {
		o.ProgressInterval = time.Second
	}
	if o.Mode == WorkloadStream {
		if o.Size == 0 {
			o.Size = DefaultStreamSize
		}
		if !o.Upload && !o.Download {
			o.Upload = true
		}
	}
	return o
}

// direction names the stream directions for reports.
func (o Options) direction() string {
	switch {
	case o.Mode != WorkloadStream:
		return ""
	case o.Upload && o.Download:
		return "both"
	case o.Download:
		return "down"
	}
	return "up"
}
