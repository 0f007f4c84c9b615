package proxy

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"
)

// bindError explains the usual reasons a listen fails. The error still
// wraps the system's (errors.Is(err, syscall.EADDRINUSE) holds).
func bindError(addr netip.AddrPort, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return &explained{fmt.Sprintf("cannot listen on %s: address already in use (another privlink or service?)", addr), err}
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return &explained{fmt.Sprintf("cannot listen on %s: the address is not configured on this host (use 127.x addresses, or the container's own IPs)", addr), err}
	case errors.Is(err, syscall.EACCES):
		return &explained{fmt.Sprintf("cannot listen on %s: permission denied (ports below 1024 need privileges)", addr), err}
	}
	return fmt.Errorf("cannot listen on %s: %w", addr, err)
}

// explained is an error whose message replaces its cause's.
type explained struct {
	msg string
	err error
}

func (e *explained) Error() string { return e.msg }
func (e *explained) Unwrap() error { return e.err }
