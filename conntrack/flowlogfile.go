package conntrack

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
)

// DefaultFlowLogBuffer is the default FlowLogOptions.BufferBytes: the
// formatted lines kept while the destination cannot be written.
const DefaultFlowLogBuffer = 4 << 20

// lineWriter writes whole flow-log lines to the destination for the writer
// goroutine. While writes fail (a full disk) it keeps the lines, up to max
// bytes, and retries on every flush; a line that does not fit is refused
// (the logger then counts it for a SKIPDATA record). A write cut short in
// the middle of a line is repaired: a FlowLogFile takes the cut line back
// at once, any other destination gets the rest of the line first when
// writes succeed again.
type lineWriter struct {
	w       io.Writer
	buf     []byte // lines waiting; buf[:off] is written already
	off     int
	max     int
	failing bool
	errs    atomic.Uint64 // failed writes
	// incident is called with the first error of an incident, and with
	// nil when writing succeeds again.
	incident func(error)
}

// add appends a line if it fits.
func (lw *lineWriter) add(line []byte) bool {
	if len(lw.buf)-lw.off+len(line) > lw.max {
		return false
	}
	lw.buf = append(lw.buf, line...)
	return true
}

// flush writes what waits; it returns the write error, if any.
func (lw *lineWriter) flush() error {
	if lw.off == len(lw.buf) {
		return nil
	}
	n, err := lw.w.Write(lw.buf[lw.off:])
	lw.off += n
	if err == nil {
		lw.buf, lw.off = lw.buf[:0], 0
		if lw.failing {
			lw.failing = false
			lw.incident(nil)
		}
		return nil
	}
	lw.errs.Add(1)
	if !lw.failing {
		lw.failing = true
		lw.incident(err)
	}
	lw.buf = lw.buf[:copy(lw.buf, lw.buf[lw.off:])] // keep what is left
	lw.off = 0
	return err
}

// FlowLogFile is a flow-log destination: standard output ("-") or a file
// opened for appending. Reopen opens the path again (after logrotate moved
// the file away); a write that fails in the middle of a line takes the cut
// line back, so the file only ever holds whole lines. It is safe for
// concurrent use.
type FlowLogFile struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// OpenFlowLogFile opens the flow-log destination: "-" is stdout, anything
// else a file opened for appending (created 0644). The error names the path
// and why it cannot be written.
func OpenFlowLogFile(path string) (*FlowLogFile, error) {
	if path == "-" {
		return &FlowLogFile{path: path, f: os.Stdout}, nil
	}
	f, err := openAppend(path)
	if err != nil {
		return nil, err
	}
	return &FlowLogFile{path: path, f: f}, nil
}

func openAppend(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("flow log file %s cannot be written: %w", path, err)
	}
	return f, nil
}

// Path is the destination's path ("-" for stdout).
func (l *FlowLogFile) Path() string { return l.path }

// Write appends p. When the write fails after part of p, the bytes after
// the last complete line are truncated away again (where the file allows
// it) and n counts only whole lines.
func (l *FlowLogFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.f.Write(p)
	if err == nil || n == 0 || l.path == "-" {
		return n, err
	}
	cut := n - (bytes.LastIndexByte(p[:n], '\n') + 1)
	if cut == 0 {
		return n, err
	}
	if fi, serr := l.f.Stat(); serr == nil && l.f.Truncate(fi.Size()-int64(cut)) == nil {
		n -= cut
	}
	return n, err
}

// Reopen opens the path again and writes there from now on; the old file
// is closed. Stdout is left as it is. On failure the old file stays.
func (l *FlowLogFile) Reopen() error {
	if l.path == "-" {
		return nil
	}
	f, err := openAppend(l.path)
	if err != nil {
		return err
	}
	l.mu.Lock()
	old := l.f
	l.f = f
	l.mu.Unlock()
	return old.Close()
}

// Close closes the file (stdout stays open).
func (l *FlowLogFile) Close() error {
	if l.path == "-" {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}
