package proxy

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"
)

// bindError explains the usual reasons a listen fails.
func bindError(addr netip.AddrPort, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("cannot listen on %s: address already in use (another privlink or service?)", addr)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("cannot listen on %s: the address is not configured on this host (use 127.x addresses, or the container's own IPs)", addr)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("cannot listen on %s: permission denied (ports below 1024 need privileges)", addr)
	}
	return fmt.Errorf("cannot listen on %s: %w", addr, err)
}
