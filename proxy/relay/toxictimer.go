package relay

import "time"

// The loop's timers: when the toxic directions of its flows may write
// next, and when a toxic acts on its own (reset_peer after T, timeout).
// Latency and bandwidth need millisecond precision, which the idle
// timeout's wheel (one slot per Tick, 100 ms) does not give, so a small
// binary heap by due time sits beside it: the loop's wait ends when its
// first timer is due. Only flows with toxics have timers; with none, the
// loop pays one length check per wake-up.

// timer is a toxic direction's place in its loop's heap.
type timer struct {
	owner *toxicDir
	at    int64 // when it is due (the loop's clock)
	i     int   // index in the heap; -1: not in it
}

// timerHeap is a min-heap of timers by due time, owned by the loop.
type timerHeap struct{ h []*timer }

// set (re)schedules t at at.
func (th *timerHeap) set(t *timer, at int64) {
	if th.has(t) {
		t.at = at
		th.fix(t.i)
		return
	}
	t.at, t.i = at, len(th.h)
	th.h = append(th.h, t)
	th.up(t.i)
}

func (th *timerHeap) has(t *timer) bool { return t.i >= 0 && t.i < len(th.h) && th.h[t.i] == t }

// cancel removes t if it is scheduled.
func (th *timerHeap) cancel(t *timer) {
	if !th.has(t) {
		return
	}
	i, last := t.i, len(th.h)-1
	th.swap(i, last)
	th.h[last] = nil
	th.h = th.h[:last]
	t.i = -1
	if i < last {
		th.fix(i)
	}
}

// wait is how long until the first timer is due, in milliseconds rounded
// up (-1: no timer).
func (th *timerHeap) wait(now int64) int {
	if len(th.h) == 0 {
		return -1
	}
	return int(max(0, (th.h[0].at-now+int64(time.Millisecond)-1)/int64(time.Millisecond)))
}

// run fires the timers due by now; a timer fired may be set again.
func (th *timerHeap) run(now int64) {
	for len(th.h) > 0 && th.h[0].at <= now {
		t := th.h[0]
		th.cancel(t)
		t.owner.fire()
	}
}

func (th *timerHeap) fix(i int) {
	if !th.down(i) {
		th.up(i)
	}
}

func (th *timerHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if th.h[p].at <= th.h[i].at {
			return
		}
		th.swap(i, p)
		i = p
	}
}

func (th *timerHeap) down(i int) bool {
	start := i
	for {
		c := 2*i + 1
		if c >= len(th.h) {
			break
		}
		if r := c + 1; r < len(th.h) && th.h[r].at < th.h[c].at {
			c = r
		}
		if th.h[i].at <= th.h[c].at {
			break
		}
		th.swap(i, c)
		i = c
	}
	return i > start
}

func (th *timerHeap) swap(i, j int) {
	th.h[i], th.h[j] = th.h[j], th.h[i]
	th.h[i].i, th.h[j].i = i, j
}
