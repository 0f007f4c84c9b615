package conntrack

import (
	"bytes"
	"fmt"
	"io"
	"maps"
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
	// BufferBytes bounds the formatted lines kept while the destination
	// cannot be written (0 = DefaultFlowLogBuffer); records beyond it are
	// dropped and reported by a SKIPDATA record once writes succeed.
	BufferBytes int
	// WriteError, if set, is called by the writer goroutine with the first
	// error of each incident (writes failing, e.g. a full disk) and with
	// nil when writes succeed again: log it there, once per incident.
	// Stats().WriteErrors counts every failed write.
	WriteError func(error)
	Now        func() time.Time
}

// FlowLogger writes VPC Flow Log records. Recording never blocks: records
// go to a bounded queue drained by one writer goroutine; when the queue is
// full a record is dropped, counted, and reported by a SKIPDATA record as
// soon as the writer catches up. When the destination cannot be written,
// the writer keeps whole lines (up to BufferBytes) and retries every
// 20 ms, so flow logs resume by themselves when writes succeed again.
type FlowLogger struct {
	opts FlowLogOptions
	fmt  *format
	out  lineWriter // owned by the writer goroutine
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
	werr   error // the write error at Close (writer goroutine, read after Close)

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
	if opts.BufferBytes <= 0 {
		opts.BufferBytes = DefaultFlowLogBuffer
	}
	if opts.WriteError == nil {
		opts.WriteError = func(error) {}
	}
	f, err := compileFormat(opts.Format, opts.AccountID, opts.Region)
	if err != nil {
		return nil, err
	}
	fl := &FlowLogger{
		opts: opts, fmt: f, out: lineWriter{w: w, max: opts.BufferBytes, incident: opts.WriteError},
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
		fl.skip()
		return false
	}
}

// skip counts a dropped record for the next SKIPDATA record.
func (fl *FlowLogger) skip() {
	if fl.pending.Add(1) == 1 {
		fl.firstDrop.Store(fl.opts.Now().UnixNano())
	}
	fl.dropped.Add(1)
}

// FlowLogStats counts the logger's records.
type FlowLogStats struct {
	Written uint64 // lines formatted for the destination
	// Dropped counts records dropped because the queue was full or the
	// lines kept during a write failure reached BufferBytes.
	Dropped     uint64
	WriteErrors uint64 // failed writes to the destination
}

// Stats returns the logger's counts.
func (fl *FlowLogger) Stats() FlowLogStats {
	return FlowLogStats{Written: fl.written.Load(), Dropped: fl.dropped.Load(), WriteErrors: fl.out.errs.Load()}
}

// Close stops the interval sweep, writes what is queued and flushes. It
// returns the write error when the destination still fails (the lines it
// kept are lost and counted as dropped).
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
			if err := fl.out.flush(); err != nil {
				fl.werr = fmt.Errorf("write flow log: %w", err)
				fl.dropped.Add(uint64(bytes.Count(fl.out.buf, []byte{'\n'})))
			}
			return
		}
		if fl.out.failing {
			fl.out.flush() // retry the kept lines before taking new ones
		}
		line = fl.drain(line)
		line = fl.reportSkipped(line)
		fl.out.flush() // a failure is reported by the incident callback and retried next time
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

// reportSkipped writes a SKIPDATA record for the records dropped since the
// last one, when it fits.
func (fl *FlowLogger) reportSkipped(line []byte) []byte {
	n := fl.pending.Load()
	if n == 0 {
		return line
	}
	first := time.Unix(0, fl.firstDrop.Load())
	line = fl.fmt.appendRecord(line[:0], &Record{Status: StatusSkipData, Start: first, End: fl.opts.Now()})
	if fl.out.add(line) {
		fl.pending.Add(^(n - 1))
		fl.written.Add(1)
	}
	return line
}

// emit formats r and keeps it for the next flush, or drops it when the
// lines kept during a write failure fill the buffer.
func (fl *FlowLogger) emit(line []byte, r *Record) []byte {
	line = fl.fmt.appendRecord(line[:0], r)
	if fl.out.add(line) {
		fl.written.Add(1)
	} else {
		fl.skip()
	}
	return line
}
