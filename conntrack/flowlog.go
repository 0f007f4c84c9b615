package conntrack

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/privlink/privlink/config"
)

// FlowLogOptions configure a FlowLogger; zero fields take config's defaults.
type FlowLogOptions struct {
	AccountID string
	Region    string
	// Interval is the aggregation interval: live flows get a record per
	// direction per interval, quiet interfaces a NODATA record.
	Interval time.Duration
	// Format is a custom format of ${field} names ("" = the v2 default).
	Format string
	// QueueSize bounds the records waiting for the writer.
	QueueSize int
	Now       func() time.Time
}

// FlowLogger writes VPC Flow Log records (SPEC §9). Recording never blocks:
// records go to a bounded queue drained by one writer goroutine; when the
// queue is full a record is dropped, counted, and reported by a SKIPDATA
// record as soon as the writer catches up.
type FlowLogger struct {
	opts FlowLogOptions
	fmt  *format
	w    *bufio.Writer
	q    chan Record

	pending   atomic.Uint64 // dropped since the last SKIPDATA record
	firstDrop atomic.Int64  // unix nanoseconds of the first of those
	dropped   atomic.Uint64
	written   atomic.Uint64
	closed    atomic.Bool

	mu     sync.Mutex // guards tables
	tables []*Table
	stop   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
	werr   error // the first write error (writer goroutine, read after Close)

	// owned by the writer goroutine
	enis  map[[2]string]string // (owner, az) → ENI ID
	quiet map[string]*Record   // interfaces seen: their NODATA record template
	heard map[string]bool      // interfaces with a record this interval
	since time.Time            // start of the current interval
}

// NewFlowLogger starts a logger writing to w. Close it to flush.
func NewFlowLogger(w io.Writer, opts FlowLogOptions) (*FlowLogger, error) {
	if opts.Interval <= 0 {
		opts.Interval = config.DefaultFlowLogInterval
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = config.DefaultFlowLogQueue
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	f, err := compileFormat(opts.Format, opts.AccountID, opts.Region)
	if err != nil {
		return nil, err
	}
	fl := &FlowLogger{
		opts: opts, fmt: f, w: bufio.NewWriterSize(w, 64<<10),
		q: make(chan Record, opts.QueueSize), stop: make(chan struct{}),
		enis: map[[2]string]string{}, quiet: map[string]*Record{}, heard: map[string]bool{},
		since: opts.Now(),
	}
	fl.wg.Add(2)
	go fl.writeLoop()
	go fl.sweepLoop()
	return fl, nil
}

// Write queues a record; it never blocks and reports false when the record
// was dropped (queue full or logger closed).
func (fl *FlowLogger) Write(r Record) bool {
	if fl.closed.Load() {
		return false
	}
	select {
	case fl.q <- r:
		return true
	default:
		if fl.pending.Add(1) == 1 {
			fl.firstDrop.Store(fl.opts.Now().UnixNano())
		}
		fl.dropped.Add(1)
		return false
	}
}

// FlowLogStats counts the logger's records.
type FlowLogStats struct {
	Written uint64 // lines written
	Dropped uint64 // records dropped because the queue was full
}

// Stats returns the logger's counts.
func (fl *FlowLogger) Stats() FlowLogStats {
	return FlowLogStats{Written: fl.written.Load(), Dropped: fl.dropped.Load()}
}

// Close stops the interval sweep, writes what is queued and flushes. It
// returns the first write error.
func (fl *FlowLogger) Close() error {
	fl.once.Do(func() {
		fl.closed.Store(true)
		fl.mu.Lock()
		for _, t := range fl.tables {
			t.fl.CompareAndSwap(fl, nil)
		}
		fl.mu.Unlock()
		close(fl.stop)
		fl.wg.Wait()
	})
	return fl.werr
}

func (fl *FlowLogger) sweepLoop() {
	defer fl.wg.Done()
	tick := time.NewTicker(fl.opts.Interval)
	defer tick.Stop()
	for {
		select {
		case <-fl.stop:
			return
		case <-tick.C:
			fl.Sweep()
		}
	}
}

// writeLoop formats and writes queued records until Close, then drains.
func (fl *FlowLogger) writeLoop() {
	defer fl.wg.Done()
	// The writer drains the queue on a tick instead of waiting on it: a
	// record queued by the data path then wakes no goroutine, and lines go
	// out in few large writes.
	t := time.NewTicker(writeEvery)
	defer t.Stop()
	var line []byte
	for {
		select {
		case <-t.C:
		case <-fl.stop:
			line = fl.drain(line)
			fl.reportSkipped(line)
			fl.flush()
			return
		}
		line = fl.drain(line)
		line = fl.reportSkipped(line)
		fl.flush()
	}
}

// writeEvery is how often the writer drains the queue.
const writeEvery = 20 * time.Millisecond

// drain handles every queued record.
func (fl *FlowLogger) drain(line []byte) []byte {
	for {
		select {
		case r := <-fl.q:
			line = fl.handle(line, &r)
		default:
			return line
		}
	}
}

func (fl *FlowLogger) handle(line []byte, r *Record) []byte {
	switch r.kind {
	case kindTick:
		return fl.endInterval(line, r.End)
	case kindInterest:
		fl.resolve(r)
		if fl.quiet[r.Interface] == nil {
			fl.quiet[r.Interface] = &Record{Interface: r.Interface, Subnet: r.Subnet, AZ: r.AZ, Status: StatusNoData}
		}
		return line
	}
	fl.resolve(r)
	if fl.quiet[r.Interface] == nil {
		fl.quiet[r.Interface] = &Record{Interface: r.Interface, Subnet: r.Subnet, AZ: r.AZ, Status: StatusNoData}
	}
	fl.heard[r.Interface] = true
	return fl.emit(line, r)
}

// resolve fills r.Interface from its owner and AZ, hashing each once.
func (fl *FlowLogger) resolve(r *Record) {
	if r.Interface != "" || r.Owner == "" {
		return
	}
	k := [2]string{r.Owner, r.AZ}
	id, ok := fl.enis[k]
	if !ok {
		id = ENIID(r.Owner, r.AZ)
		fl.enis[k] = id
	}
	r.Interface = id
}

// endInterval writes a NODATA record for each known interface that had no
// record since the last tick.
func (fl *FlowLogger) endInterval(line []byte, end time.Time) []byte {
	for _, id := range slices.Sorted(maps.Keys(fl.quiet)) {
		if !fl.heard[id] {
			r := *fl.quiet[id]
			r.Start, r.End = fl.since, end
			line = fl.emit(line, &r)
		}
	}
	clear(fl.heard)
	fl.since = end
	return line
}

func (fl *FlowLogger) reportSkipped(line []byte) []byte {
	if fl.pending.Swap(0) == 0 {
		return line
	}
	first := time.Unix(0, fl.firstDrop.Load())
	return fl.emit(line, &Record{Status: StatusSkipData, Start: first, End: fl.opts.Now()})
}

func (fl *FlowLogger) emit(line []byte, r *Record) []byte {
	line = fl.fmt.appendRecord(line[:0], r)
	if _, err := fl.w.Write(line); err != nil && fl.werr == nil {
		fl.werr = fmt.Errorf("write flow log: %w", err)
	}
	fl.written.Add(1)
	return line
}

func (fl *FlowLogger) flush() {
	if err := fl.w.Flush(); err != nil && fl.werr == nil {
		fl.werr = fmt.Errorf("write flow log: %w", err)
	}
}

// OpenFlowLogFile opens the flow-log destination: "-" is stdout, anything
// else a file opened for appending (created 0644). The error names the path
// and why it cannot be written.
func OpenFlowLogFile(path string) (io.WriteCloser, error) {
	if path == "-" {
		return nopCloser{os.Stdout}, nil
	}
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

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
