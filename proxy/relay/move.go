package relay

import (
	"slices"

	"golang.org/x/sys/unix"
)

// Where flows run. privlink shares its machine with the clients and the
// targets it stands between, and a loop's wake-ups cost them as much as
// its work. So the engine packs: the first loop accepts every connection
// and runs it while it has time to spare, and the other loops take work
// only when it pays:
//
//   - A flow that turns bulk (a read fills the loop's buffer: it moves on
//     to splice) moves to the loop with the fewest bulk flows, if that
//     loop has at least two fewer than its own counting the flow: a few
//     long streams then run side by side on several cores.
//   - While the first loop's thread ran more than busyShare of the last
//     sweep interval, it hands each new connection to the loop that owns
//     fewest: many small flows then spread too.
//
// Measured on 2 cores against spreading every new connection over both
// loops (docs/performance.md): echo messages/s +10% at 28% less CPU per
// message and 0.6× the p99; connections/s level at 20% less CPU per
// connection; stream throughput unchanged.
//
// A flow moves once (not with toxics, urgent data or a direction ended),
// by leaving its loop's epoll set, wheel and ready list and joining the
// other's. Kill, Terminate, Hold and SetToxics post to the loop it started
// on (home), which passes them on.

// busyShare is the share of its thread's time, in thousandths, above which
// the accepting loop hands new connections to others.
const busyShare = 750

// placement is the loop a connection l accepted goes to: l while it has
// time to spare, else the loop that owns fewest connections.
func (l *Loop) placement() *Loop {
	if len(l.e.loops) == 1 || l.busy.Load() < busyShare {
		return l
	}
	best, n := l, l.load.Load()
	for _, x := range l.e.loops {
		if m := x.load.Load(); m < n {
			best, n = x, m
		}
	}
	return best
}

// measureBusy sets busy to the share of the time since the last sweep
// that the loop's thread ran (the loop is locked to it).
func (l *Loop) measureBusy() {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return
	}
	cpu := ts.Nano()
	if l.sweptAt != 0 && l.now > l.sweptAt {
		l.busy.Store(int32(min((cpu-l.cpuAt)*1000/(l.now-l.sweptAt), 1000)))
	}
	l.cpuAt, l.sweptAt = cpu, l.now
}

// turnedBulk counts the flow as bulk on its loop, once, and lists it to
// move if another loop has room.
func (f *Flow) turnedBulk() {
	if f.bulk {
		return
	}
	f.bulk = true
	f.l.bulk.Add(1)
	if !f.moved && f.Toxics == nil && len(f.l.e.loops) > 1 {
		f.l.movers = append(f.l.movers, f)
	}
}

// moveBulk moves the listed flows to a loop with fewer bulk flows, after
// the round's events; a flow that cannot move now waits for a later
// round, one on a balanced loop stays.
func (l *Loop) moveBulk() {
	if l.e.kills.Load() != l.killGen {
		return // a KillAll is on its way here: these flows end
	}
	keep := l.movers[:0]
	for _, f := range l.movers {
		if f.ended.Load() || f.l != l || !f.mayMove() {
			continue
		}
		to := l.fewestBulk()
		if to == nil {
			continue
		}
		if !f.movable() {
			keep = append(keep, f)
			continue
		}
		l.move(f, to)
	}
	clear(l.movers[len(keep):])
	l.movers = keep
}

// fewestBulk is the loop with the fewest bulk flows if it has at least
// two fewer than l: nil when moving would not even them out.
func (l *Loop) fewestBulk() *Loop {
	var best *Loop
	n := l.bulk.Load() - 1
	for _, x := range l.e.loops {
		if m := x.bulk.Load(); m < n {
			best, n = x, m
		}
	}
	return best
}

// mayMove reports whether the flow may still move: both directions run,
// and no toxic or expiry applies.
func (f *Flow) mayMove() bool {
	return f.done == 0 && !f.closed && f.Toxics == nil && !f.expired.Load() && !f.ab.finished && !f.ba.finished
}

// movable reports whether the flow can change loops now: no socket shows
// its end or urgent data. Bytes it holds (a pipe, leftovers) go along,
// and the new loop's registration reports what the sockets hold or take.
func (f *Flow) movable() bool {
	for _, s := range [...]*side{&f.a, &f.b} {
		if s.closed || s.ends || s.urgent {
			return false
		}
	}
	return true
}

// move hands a flow over to another loop: its sockets leave l's epoll
// set, it leaves l's wheel, and an empty pipe goes back to l's pool (one
// holding bytes goes along: the pools count pipes in use together).
func (l *Loop) move(f *Flow, to *Loop) {
	for _, s := range [...]*side{&f.a, &f.b} {
		unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, s.fd, nil)
		l.detach(s.fd, s)
	}
	l.wheel.remove(f)
	for _, d := range [...]*dir{&f.ab, &f.ba} {
		if d.queued { // the registration reports its socket readable
			l.ready = slices.DeleteFunc(l.ready, func(x *dir) bool { return x == d })
			d.queued = false
		}
		if d.p != nil && d.p.data == 0 {
			l.pipes.put(d.p)
			d.p = nil
		}
	}
	if f.counted {
		l.load.Add(-1)
		to.load.Add(1)
	}
	l.bulk.Add(-1)
	to.bulk.Add(1)
	f.moved, f.l, f.kills = true, to, l.killGen
	if !to.post(op{kind: opAdopt, f: f}) { // stopped: only after every flow ended
		panic("relay: a flow moved to a stopped loop")
	}
}

// adopt runs a flow another loop moved here: its sockets join the loop's
// epoll set, whose registration reports at once what they hold already.
func (l *Loop) adopt(f *Flow) {
	l.wheel.add(f, f.due)
	if l.killGen != f.kills {
		// A KillAll that came after the move ran here first; the flow's
		// old loop ran it after the flow left: it ends now.
		f.abort(ErrClosed, false)
		return
	}
	for _, s := range [...]*side{&f.a, &f.b} {
		if err := l.attach(s.fd, s, socketEvents); err != nil {
			f.abort(err, true)
			return
		}
	}
}
