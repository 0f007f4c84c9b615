package loadtest

import (
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// bindAddressNoPort sets IP_BIND_ADDRESS_NO_PORT on a socket about to be
// bound to a source address: the port is then chosen at connect time for
// the full 4-tuple, so one source IP serves many targets and the bind
// does not exhaust the IP's ephemeral ports.
func bindAddressNoPort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// preciseTimers makes the calling OS thread's sleeps wake within
// microseconds (timer slack 1 ns; the default is 50 µs).
func preciseTimers() { unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0) } //nolint:errcheck // best effort

// nap sleeps the calling OS thread for d with nanosleep: unlike the
// runtime's timers, which wake about a millisecond late on an idle host,
// it is accurate to tens of microseconds.
func nap(d time.Duration) {
	ts := unix.NsecToTimespec(d.Nanoseconds())
	unix.Nanosleep(&ts, nil) //nolint:errcheck // an early wake-up is re-checked by the caller
}
