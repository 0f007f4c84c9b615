package relay

import (
	"golang.org/x/sys/unix"

	"github.com/privlink/privlink/internal/rawsock"
)

// idleSamples is how often, per idle timeout, the sockets of an idle flow
// are sampled for keepalives (the segments they received, TCP_INFO): two
// system calls each time, 16 times per timeout, so 0.09 system calls per
// second per idle flow with the default 350 s. A flow whose keepalives
// stop expires at most 1/16 of its timeout late.
const idleSamples = 16

// wheelSlots is the size of a loop's timing wheel. With the default Tick
// of 100 ms it spans 409.6 s: more than the time between two checks of a
// flow for any idle timeout up to AWS's 6,000 s (375 s), so a flow is
// visited when its check is due and never before.
const wheelSlots = 4096

// wheel holds a loop's flows by the time of their next idle check, in
// slots of one Tick (a hashed timing wheel): a sweep visits the slots that
// came due since the last one and only the flows in them, so the flows
// whose check is not due cost the sweep nothing. Flows without an idle
// timeout, and expired ones, wait in untimed. Owned by the loop.
type wheel struct {
	tick    int64 // nanoseconds per slot: the engine's Tick
	next    int64 // the tick (time/tick) of the slot the sweep visits next
	slots   [wheelSlots]list[Flow, *Flow]
	untimed list[Flow, *Flow]
}

func (w *wheel) init(tick, now int64) { w.tick, w.next = tick, now/tick }

// add files f for its check at due (0: none), in the first slot at or
// after due that the sweep has yet to visit.
func (w *wheel) add(f *Flow, due int64) {
	if due <= 0 {
		f.due = 0
		w.untimed.push(f)
		return
	}
	t := max((due+w.tick-1)/w.tick, w.next)
	f.due = t * w.tick
	w.slots[t%wheelSlots].push(f)
}

func (w *wheel) remove(f *Flow) {
	if f.due == 0 {
		w.untimed.remove(f)
		return
	}
	w.slots[(f.due/w.tick)%wheelSlots].remove(f)
}

// advance checks the flows whose check came due by now and files each
// for its next one. A slot also holds flows due a revolution later: they
// stay.
func (w *wheel) advance(now int64) {
	end := now / w.tick
	if end-w.next >= wheelSlots { // a whole revolution late: each slot once
		w.next = end - wheelSlots + 1
	}
	for ; w.next <= end; w.next++ {
		s := &w.slots[w.next%wheelSlots]
		for f := s.head; f != nil; {
			next := f.links.next
			if f.due <= now {
				s.remove(f)
				due := f.checkIdle(now, w.tick)
				if due > 0 {
					due = max(due, now+1) // a later slot: this one is being visited
				}
				w.add(f, due)
			}
			f = next
		}
	}
}

// each runs fn for every flow; fn may end the flow it gets.
func (w *wheel) each(fn func(*Flow)) {
	w.untimed.each(fn)
	for i := range w.slots {
		w.slots[i].each(fn)
	}
}

// checkIdle is a flow's idle check. It expires the flow after IdleTimeout
// without traffic and returns when to check it next (0: never again).
//
// Traffic is data moved (dir.active), or segments received without data:
// TCP keepalives from either peer, which keep a flow alive on NLB too. They
// show as a change of the sockets' segment counts between two samples, and
// restart the idle timer (kept) without being activity: LastActivity stays
// when data last moved. Samples start a step after data stops (a sample
// spanning data is no evidence of keepalives) and come every step, 1/16 of
// the timeout (at least a Tick); the expiry itself is due exactly at the
// timeout. So a flow that was not kept alive expires on time (to the
// Tick), and one whose keepalives stop at most a step late, never early.
func (f *Flow) checkIdle(now, tick int64) int64 {
	to := int64(f.IdleTimeout)
	if to <= 0 || f.expired.Load() {
		// Expired flows are held until a peer sends (it gets an RST) or
		// closes: resetting quiet peers would tell them what AWS never does.
		return 0
	}
	step := max(to/idleSamples, tick)
	data := max(f.ab.active.Load(), f.ba.active.Load())
	if now-data < step {
		f.segs = 0
		return data + step
	}
	base := max(data, f.kept)
	segs := f.a.segsIn() + f.b.segsIn()
	switch {
	case f.segs == 0: // the first sample since data moved
	case segs != f.segs: // segments without data: keepalives
		f.kept, base = now, now
	case now-base >= to:
		f.Expire()
		return 0
	}
	f.segs = segs
	return min(now+step, base+to)
}

// segsIn is the number of segments the socket received (TCP_INFO), 0 if
// it cannot be read.
func (s *side) segsIn() uint32 {
	if s.closed || s.fd < 0 {
		return 0
	}
	var info unix.TCPInfo
	if rawsock.TCPInfo(s.fd, &info) != nil {
		return 0
	}
	return info.Segs_in
}
