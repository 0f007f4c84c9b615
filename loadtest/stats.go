package loadtest

import (
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram range: 1 µs to 1 hour, 3 significant digits.
const (
	histMinMicros = 1
	histMaxMicros = int64(time.Hour / time.Microsecond)
	histSigFigs   = 3
)

// stats collects a run's counters (atomics, read live by the progress
// callback) and latencies (HDR histograms, sharded by worker so recording
// rarely contends; each shard's mutex guards only its histogram).
type stats struct {
	ops         atomic.Int64 // successful operations
	conns       atomic.Int64 // established connections
	sent, recvd atomic.Int64 // payload bytes
	scheduled   atomic.Int64 // open loop: operations due so far
	errs        [numErrorClasses]atomic.Int64

	samplesMu sync.Mutex
	samples   map[ErrorClass]string // first error text per class

	shards []histShard
}

type histShard struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
	_  [40]byte // keep shards on separate cache lines
}

func newStats(shards int) *stats {
	s := &stats{samples: map[ErrorClass]string{}, shards: make([]histShard, max(shards, 1))}
	for i := range s.shards {
		s.shards[i].h = hdrhistogram.New(histMinMicros, histMaxMicros, histSigFigs)
	}
	return s
}

// record adds one latency sample from shard id.
func (s *stats) record(id int, d time.Duration) {
	us := min(max(d.Microseconds(), histMinMicros), histMaxMicros)
	sh := &s.shards[id%len(s.shards)]
	sh.mu.Lock()
	sh.h.RecordValue(us) //nolint:errcheck // clamped into range above
	sh.mu.Unlock()
}

// fail counts one failed operation.
func (s *stats) fail(c ErrorClass, err error) {
	s.errs[c].Add(1)
	s.samplesMu.Lock()
	if _, ok := s.samples[c]; !ok {
		s.samples[c] = err.Error()
	}
	s.samplesMu.Unlock()
}

// merged returns every shard's samples in one histogram.
func (s *stats) merged() *hdrhistogram.Histogram {
	h := hdrhistogram.New(histMinMicros, histMaxMicros, histSigFigs)
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		h.Merge(sh.h)
		sh.mu.Unlock()
	}
	return h
}

func (s *stats) errorTotal() int64 {
	var n int64
	for i := range s.errs {
		n += s.errs[i].Load()
	}
	return n
}

// Snapshot is the live state of a run, passed to the progress callback.
type Snapshot struct {
	Elapsed       time.Duration
	Ops           int64 // successful operations so far
	Conns         int64 // connections established so far
	Errors        int64 // failed operations so far
	BytesSent     int64
	BytesReceived int64
	// OpsPerSec and the MB/s figures are over the last interval.
	OpsPerSec    float64
	UploadMBps   float64
	DownloadMBps float64
}

// snapshot reads the counters; prev (may be zero) gives the interval rates.
func (s *stats) snapshot(elapsed time.Duration, prev Snapshot) Snapshot {
	sn := Snapshot{
		Elapsed: elapsed, Ops: s.ops.Load(), Conns: s.conns.Load(), Errors: s.errorTotal(),
		BytesSent: s.sent.Load(), BytesReceived: s.recvd.Load(),
	}
	if dt := (elapsed - prev.Elapsed).Seconds(); dt > 0 {
		sn.OpsPerSec = float64(sn.Ops-prev.Ops) / dt
		sn.UploadMBps = float64(sn.BytesSent-prev.BytesSent) / dt / 1e6
		sn.DownloadMBps = float64(sn.BytesReceived-prev.BytesReceived) / dt / 1e6
	}
	return sn
}
