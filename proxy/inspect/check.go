package inspect

import (
	"maps"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Conformance sums up the headers a Server saw against what an NLB sends:
// the answer `privlink inspect --check` turns into its exit status.
type Conformance struct {
	// Headers counts the PROXY headers seen: accepted, or refused after or
	// while being read (a header from an untrusted source included).
	Headers int
	// Nonconforming counts those with at least one Item, or refused for
	// what they were (Refused).
	Nonconforming int
	// Items counts the headers that listed each item.
	Items map[Item]int
	// Refused counts the headers refused for what they were, by reason:
	// split (with Options.Strict), malformed, oversize, crc_mismatch,
	// stacked, and timeout for a header that never completed or came late.
	Refused map[Reason]int
}

// OK reports whether at least one header was seen and every one conformed.
func (c Conformance) OK() bool { return c.Headers > 0 && c.Nonconforming == 0 }

// Conformance returns the tally of every header seen since Start.
func (s *Server) Conformance() Conformance { return s.tally.snapshot() }

// refusesHeader reports whether r refuses a connection for its header's
// bytes, as opposed to its source, its absence or the upstream.
func refusesHeader(r Reason) bool {
	switch r {
	case ReasonSplit, ReasonMalformed, ReasonOversize, ReasonCRCMismatch, ReasonStacked, ReasonTimeout:
		return true
	}
	return false
}

// tally counts headers for Conformance and
// privlink_inspect_nonconforming_headers_total.
type tally struct {
	counters [numItems]prometheus.Counter
	mu       sync.Mutex
	c        Conformance
}

func newTally(items *prometheus.CounterVec) *tally {
	t := &tally{c: Conformance{Items: map[Item]int{}, Refused: map[Reason]int{}}}
	for i := ItemSplit; i < numItems; i++ {
		t.counters[i] = items.WithLabelValues(i.String())
	}
	return t
}

// header counts one header with verdict v, refused with r (ReasonNone when
// it was accepted).
func (t *tally) header(v Verdict, r Reason) {
	for _, it := range v {
		t.counters[it].Inc()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.c.Headers++
	for _, it := range v {
		t.c.Items[it]++
	}
	refused := refusesHeader(r)
	if refused {
		t.c.Refused[r]++
	}
	if refused || len(v) > 0 {
		t.c.Nonconforming++
	}
}

// late counts item, found after the header was accepted and counted with
// the rest of v, and the refusal r it caused.
func (t *tally) late(v Verdict, item Item, r Reason) {
	t.counters[item].Inc()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.c.Items[item]++
	t.c.Refused[r]++
	for _, it := range v {
		if it != item {
			return // the header was counted as nonconforming already
		}
	}
	t.c.Nonconforming++
}

func (t *tally) snapshot() Conformance {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.c
	c.Items, c.Refused = maps.Clone(t.c.Items), maps.Clone(t.c.Refused)
	return c
}
