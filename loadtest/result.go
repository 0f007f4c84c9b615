package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Latency summarises the latency histogram: connect mode, connect plus
// the optional echo; echo mode, one message round trip. Open-loop samples
// start at the scheduled time. Zero when nothing was measured.
type Latency struct {
	Count                    int64
	Min, Mean                time.Duration
	P50, P90, P99, P999, Max time.Duration
}

func summarize(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	return Latency{
		Count: h.TotalCount(), Min: us(h.Min()), Mean: time.Duration(h.Mean() * float64(time.Microsecond)),
		P50: us(h.ValueAtQuantile(50)), P90: us(h.ValueAtQuantile(90)), P99: us(h.ValueAtQuantile(99)),
		P999: us(h.ValueAtQuantile(99.9)), Max: us(h.Max()),
	}
}

// Result is the outcome of a run.
type Result struct {
	Target    string
	Mode      Workload
	Direction string // stream: up, down or both
	Conns     int
	Rate      float64 // 0 = closed loop
	Size      int
	Source    string // the source prefix, "" = the kernel's choice
	Duration  time.Duration
	// Elapsed is the measured wall time; rates are per Elapsed second.
	Elapsed time.Duration
	// Ops counts successful operations: connections (connect mode) or
	// messages (echo mode); stream mode counts chunks written.
	Ops       int64
	OpsPerSec float64
	// Connections is how many connections were established.
	Connections int64
	// Scheduled is, in an open loop, how many operations were due;
	// Scheduled - Ops - errors were cut off by the end of the run.
	Scheduled int64
	// SourceAddrs is how many distinct source addresses were used.
	SourceAddrs              int
	BytesSent, BytesReceived int64
	UploadMBps, DownloadMBps float64 // 1 MB = 10^6 bytes
	Latency                  Latency
	Errors                   map[ErrorClass]int64 // every class present
	ErrorSamples             map[ErrorClass]string
}

// ErrorTotal is the number of failed operations.
func (r *Result) ErrorTotal() int64 {
	var n int64
	for _, v := range r.Errors {
		n += v
	}
	return n
}

// opName is what one operation is called in reports.
func (r *Result) opName() string {
	switch r.Mode {
	case WorkloadConnect:
		return "conns"
	case WorkloadEcho:
		return "msgs"
	}
	return "chunks"
}

// WriteText writes the result as an aligned table.
func (r *Result) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, args...)...) }
	loop := "closed loop"
	if r.Rate > 0 {
		loop = fmt.Sprintf("open loop, %g/s", r.Rate)
	}
	mode := string(r.Mode)
	if r.Direction != "" {
		mode += " (" + r.Direction + ")"
	}
	row("target", "%s", r.Target)
	row("mode", "%s, %d conns, %s, size %d B", mode, r.Conns, loop, r.Size)
	if r.Source != "" {
		row("source", "%s (%d addresses used)", r.Source, r.SourceAddrs)
	}
	row("elapsed", "%s", r.Elapsed.Round(time.Millisecond))
	if r.Mode != WorkloadStream {
		row(r.opName(), "%d (%.1f/s)", r.Ops, r.OpsPerSec)
	}
	row("connections", "%d", r.Connections)
	if r.Scheduled > 0 {
		row("scheduled", "%d", r.Scheduled)
	}
	if r.Mode == WorkloadStream || r.BytesSent+r.BytesReceived > 0 {
		row("upload", "%.1f MB/s (%d B)", r.UploadMBps, r.BytesSent)
		row("download", "%.1f MB/s (%d B)", r.DownloadMBps, r.BytesReceived)
	}
	if l := r.Latency; l.Count > 0 {
		row("latency", "p50 %s  p90 %s  p99 %s  p99.9 %s  max %s", l.P50, l.P90, l.P99, l.P999, l.Max)
	}
	row("errors", "%d", r.ErrorTotal())
	for _, c := range ErrorClasses() {
		if n := r.Errors[c]; n > 0 {
			row("  "+c.String(), "%d  (%s)", n, r.ErrorSamples[c])
		}
	}
	return tw.Flush()
}

// jsonResult fixes the JSON keys; change them only with care, scripts
// read them.
type jsonResult struct {
	Target        string            `json:"target"`
	Mode          Workload          `json:"mode"`
	Direction     string            `json:"direction,omitempty"`
	Conns         int               `json:"conns"`
	Rate          float64           `json:"rate"`
	Size          int               `json:"size"`
	Source        string            `json:"source,omitempty"`
	SourceAddrs   int               `json:"source_addrs"`
	DurationSec   float64           `json:"duration_s"`
	ElapsedSec    float64           `json:"elapsed_s"`
	Ops           int64             `json:"ops"`
	OpsPerSec     float64           `json:"ops_per_s"`
	Connections   int64             `json:"connections"`
	Scheduled     int64             `json:"scheduled"`
	BytesSent     int64             `json:"bytes_sent"`
	BytesReceived int64             `json:"bytes_received"`
	UploadMBps    float64           `json:"upload_mb_per_s"`
	DownloadMBps  float64           `json:"download_mb_per_s"`
	Latency       jsonLatency       `json:"latency_us"`
	Errors        map[string]int64  `json:"errors"`
	ErrorTotal    int64             `json:"error_total"`
	ErrorSamples  map[string]string `json:"error_samples"`
}

type jsonLatency struct {
	Count int64   `json:"count"`
	Min   float64 `json:"min"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
}

// MarshalJSON encodes the result with stable snake_case keys; latencies
// are in microseconds, every error class is present.
func (r *Result) MarshalJSON() ([]byte, error) {
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	l := r.Latency
	j := jsonResult{
		Target: r.Target, Mode: r.Mode, Direction: r.Direction, Conns: r.Conns, Rate: r.Rate, Size: r.Size,
		Source: r.Source, SourceAddrs: r.SourceAddrs, DurationSec: r.Duration.Seconds(), ElapsedSec: r.Elapsed.Seconds(),
		Ops: r.Ops, OpsPerSec: r.OpsPerSec, Connections: r.Connections, Scheduled: r.Scheduled,
		BytesSent: r.BytesSent, BytesReceived: r.BytesReceived, UploadMBps: r.UploadMBps, DownloadMBps: r.DownloadMBps,
		Latency: jsonLatency{Count: l.Count, Min: us(l.Min), Mean: us(l.Mean), P50: us(l.P50), P90: us(l.P90),
			P99: us(l.P99), P999: us(l.P999), Max: us(l.Max)},
		Errors: map[string]int64{}, ErrorTotal: r.ErrorTotal(), ErrorSamples: map[string]string{},
	}
	for _, c := range ErrorClasses() {
		j.Errors[c.String()] = r.Errors[c]
		if s, ok := r.ErrorSamples[c]; ok {
			j.ErrorSamples[c.String()] = s
		}
	}
	return json.Marshal(j)
}
