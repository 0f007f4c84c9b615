package relay

import (
	"os"
	"runtime"
	"sync"
)

// procs keeps GOMAXPROCS raised by the loops of the live engines. A loop
// blocked in epoll_pwait holds a processor (P) of Go's scheduler until
// sysmon takes it back, 20 µs or more later, by handing it to another
// thread; with no processor to spare, every goroutine woken meanwhile
// (timers, flow logs, the admin API) waits for that hand-off, and each
// hand-off wakes a thread. With one extra processor per loop, the rest of
// the program keeps the processors it would have without the loops.
// Measured on 2 cores with 2 loops (alternating A/B, docs/performance.md):
// GOMAXPROCS 4 against 2 gave 3% more connections/s at 7 µs less CPU per
// connection, a lower echo p99 and 2–3% more stream throughput.
//
// Setting GOMAXPROCS turns off the runtime's automatic updates of it (to
// the CPUs and cgroup quota the process may use). When the last engine
// closes, a GOMAXPROCS that was Go's default goes back to the default and
// its updates (runtime.SetDefaultGOMAXPROCS); one set by the GOMAXPROCS
// environment variable or by a call to runtime.GOMAXPROCS goes back to
// its value.
var procs struct {
	mu    sync.Mutex
	base  int  // GOMAXPROCS before the first live engine
	auto  bool // base was Go's default
	loops int
}

// baseProcs is GOMAXPROCS without the live engines' loops.
func baseProcs() int {
	procs.mu.Lock()
	defer procs.mu.Unlock()
	if procs.loops == 0 {
		return runtime.GOMAXPROCS(0)
	}
	return procs.base
}

func addProcs(n int) {
	procs.mu.Lock()
	defer procs.mu.Unlock()
	if procs.loops == 0 {
		procs.base = runtime.GOMAXPROCS(0)
		procs.auto = isDefaultProcs(procs.base)
	}
	procs.loops += n
	if procs.loops == 0 && procs.auto {
		runtime.SetDefaultGOMAXPROCS()
		return
	}
	runtime.GOMAXPROCS(procs.base + procs.loops)
}

// isDefaultProcs reports whether cur, the GOMAXPROCS in effect, is Go's
// default with its automatic updates on. The runtime does not tell, so it
// restores the default and compares: a value that differs was set by a
// call to runtime.GOMAXPROCS and is put back. (A call that set the
// default's own value is taken for the default.)
func isDefaultProcs(cur int) bool {
	if os.Getenv("GOMAXPROCS") != "" {
		return false
	}
	runtime.SetDefaultGOMAXPROCS()
	if runtime.GOMAXPROCS(0) == cur {
		return true
	}
	runtime.GOMAXPROCS(cur)
	return false
}
