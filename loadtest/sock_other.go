//go:build !linux

package loadtest

import (
	"syscall"
	"time"
)

// bindAddressNoPort is a no-op off Linux: the kernel picks a port at bind.
func bindAddressNoPort(_, _ string, _ syscall.RawConn) error { return nil }

func preciseTimers() {}

func nap(d time.Duration) { time.Sleep(d) }
