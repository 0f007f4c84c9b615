package relay

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// BenchmarkIdleSweep measures the idle sweep's CPU per second of a loop's
// clock (one op: ten sweeps of 100 ms) over idle flows with the default
// 350 s idle timeout, for 1,000 and 10,000 flows:
//   - quiet: flows that went idle within the last 20 s, before their
//     first keepalive sample (the clock goes back every 20 ops);
//   - steady: flows idle for times spread over the whole timeout; a flow
//     that expires gets data again (outside the timer), so the mix stays.
//
// The sweep reads the sockets' TCP_INFO for real (all flows share one
// connection's two sockets).
func BenchmarkIdleSweep(b *testing.B) {
	for _, quiet := range []bool{true, false} {
		for _, n := range []int{1000, 10000} {
			name := fmt.Sprintf("steady/flows=%d", n)
			if quiet {
				name = fmt.Sprintf("quiet/flows=%d", n)
			}
			b.Run(name, func(b *testing.B) { benchSweep(b, n, quiet) })
		}
	}
}

const benchTick = int64(100 * time.Millisecond)

func benchSweep(b *testing.B, n int, quiet bool) {
	c, s := tcpPair(b)
	defer c.Close()
	defer s.Close()
	fdA, fdB := sockFD(c), sockFD(s)
	l, flows := idleLoop(n, fdA, fdB, quiet)
	start := l.now
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if quiet && i%20 == 0 {
			rewind(l, start) // no flow was visited: the state is as made
		}
		for range 10 {
			l.now += benchTick
			l.sweep()
		}
		if !quiet {
			b.StopTimer()
			revive(l, flows)
			b.StartTimer()
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/flow")
}

func sockFD(c *net.TCPConn) int {
	fd := -1
	rc, _ := c.SyscallConn()
	rc.Control(func(x uintptr) { fd = int(x) })
	return fd
}

// idleLoop is a loop (not running: the benchmark drives its clock and
// sweeps) with n idle flows on the sockets fdA and fdB.
func idleLoop(n, fdA, fdB int, quiet bool) (*Loop, []Flow) {
	l := &Loop{e: &Engine{opts: Options{Tick: time.Duration(benchTick)}}}
	l.now = time.Now().UnixNano()
	l.wheel.init(benchTick, l.now)
	flows := make([]Flow, n)
	span := int64(350 * time.Second)
	if quiet {
		span = int64(time.Second)
	}
	for i := range flows {
		f := &flows[i]
		f.IdleTimeout = 350 * time.Second
		f.l = l
		f.a.f, f.b.f = f, f
		f.a.fd, f.b.fd = fdA, fdB
		idle := int64(i) * span / int64(n)
		f.ab.active.Store(l.now - idle)
		f.ba.active.Store(l.now - idle)
		fileFlow(l, f)
	}
	return l, flows
}

// rewind sets the loop's clock back to start.
func rewind(l *Loop, start int64) { l.now, l.wheel.next = start, start/benchTick }

// fileFlow puts an idle flow in its loop's sweep.
func fileFlow(l *Loop, f *Flow) { l.wheel.add(f, f.checkIdle(l.now, benchTick)) }

// revive gives expired flows data again.
func revive(l *Loop, flows []Flow) {
	for i := range flows {
		if f := &flows[i]; f.expired.Load() {
			l.wheel.remove(f)
			f.expired.Store(false)
			f.ab.active.Store(l.now)
			fileFlow(l, f)
		}
	}
}
