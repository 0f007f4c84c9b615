package proxy

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/privlink/privlink/proxy/relay"
)

// faultFlows are the live flows faults keep track of: those a
// target_reset fault cut (their RSTs are the target's, not the load
// balancer's) and those carrying toxics (removing a fault takes its toxic
// off them, as removing a Toxiproxy toxic does). A flow's end pays one
// atomic load while none is tracked.
type faultFlows struct {
	mu    sync.Mutex
	cut   map[*flow]struct{}
	toxic map[*flow][]*fault
	n     atomic.Int32 // len(cut) + len(toxic)
}

func (ff *faultFlows) count() { ff.n.Store(int32(len(ff.cut) + len(ff.toxic))) }

// markCut records that a target_reset fault cuts f.
func (ff *faultFlows) markCut(f *flow) {
	ff.mu.Lock()
	defer ff.mu.Unlock()
	if ff.cut == nil {
		ff.cut = map[*flow]struct{}{}
	}
	ff.cut[f] = struct{}{}
	ff.count()
}

// track records the toxic faults a flow starts with.
func (ff *faultFlows) track(f *flow, fts []*fault) {
	ff.mu.Lock()
	defer ff.mu.Unlock()
	if ff.toxic == nil {
		ff.toxic = map[*flow][]*fault{}
	}
	ff.toxic[f] = fts
	ff.count()
}

// done forgets an ending flow; it reports whether a target_reset fault
// cut it.
func (ff *faultFlows) done(f *flow) bool {
	if ff.n.Load() == 0 {
		return false
	}
	ff.mu.Lock()
	defer ff.mu.Unlock()
	_, cut := ff.cut[f]
	delete(ff.cut, f)
	delete(ff.toxic, f)
	ff.count()
	return cut
}

// release takes ft's toxic off the live flows that carry it: each gets
// the toxics of its other faults (none: back to the relay's usual path).
func (ff *faultFlows) release(ft *fault) {
	ff.mu.Lock()
	defer ff.mu.Unlock()
	for f, fts := range ff.toxic {
		i := slices.Index(fts, ft)
		if i < 0 {
			continue
		}
		fts = slices.Delete(slices.Clone(fts), i, i+1)
		x := &relay.Toxics{}
		if len(fts) == 0 {
			delete(ff.toxic, f)
		} else {
			ff.toxic[f] = fts
			x = toxicsOf(fts)
		}
		f.SetToxics(x.AB, x.BA)
	}
	ff.count()
}
