package conntrack

import "sync"

// flowState is what the flow logger has reported of an entry; mu orders
// the interval sweep against the final records of Remove.
type flowState struct {
	mu       sync.Mutex
	done     bool
	reported Sample
	since    int64 // unix seconds the next record starts at (0: the entry's start)
}

// FlowLogger placeholder until flowlog.go.
type FlowLogger struct{}

func (fl *FlowLogger) final(e *Entry, s Sample, prev State) {}
