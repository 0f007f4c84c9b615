//go:build !linux

package loadtest

import "syscall"

// bindAddressNoPort is a no-op off Linux: the kernel picks a port at bind.
func bindAddressNoPort(_, _ string, _ syscall.RawConn) error { return nil }
