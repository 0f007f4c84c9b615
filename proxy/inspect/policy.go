package inspect

import (
	"fmt"
	"net"
	"net/netip"

	proxyproto "github.com/pires/go-proxyproto"
)

// Policy returns the sidecar's header policy in go-proxyproto's terms, so
// it can also drive a proxyproto.Listener. A source inside trust (any source
// when trust is empty) must send a header with require (REQUIRE) and may
// without (USE). Any other source must not send one (REJECT); with require
// it cannot connect at all, and the policy returns an error wrapping both
// proxyproto.ErrInvalidUpstream and ErrUntrusted.
func Policy(trust []netip.Prefix, require bool) proxyproto.ConnPolicyFunc {
	trusted := proxyproto.USE
	if require {
		trusted = proxyproto.REQUIRE
	}
	return func(o proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) {
		ip, err := addrOf(o.Upstream)
		if err != nil {
			return proxyproto.REJECT, fmt.Errorf("%w: %w: %w", proxyproto.ErrInvalidUpstream, ErrUntrusted, err)
		}
		if trusts(trust, ip) {
			return trusted, nil
		}
		if require {
			return proxyproto.REJECT, fmt.Errorf("%w: %w: %s is outside the trusted prefixes", proxyproto.ErrInvalidUpstream, ErrUntrusted, ip)
		}
		return proxyproto.REJECT, nil
	}
}

func trusts(trust []netip.Prefix, ip netip.Addr) bool {
	if len(trust) == 0 {
		return true
	}
	for _, p := range trust {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// addrOf is the unmapped IP address of a socket address.
func addrOf(a net.Addr) (netip.Addr, error) {
	if t, ok := a.(*net.TCPAddr); ok {
		if ap := t.AddrPort(); ap.Addr().IsValid() {
			return ap.Addr().Unmap(), nil
		}
	}
	if a == nil {
		return netip.Addr{}, fmt.Errorf("no source address")
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}, fmt.Errorf("source address %q: %w", a, err)
	}
	return ap.Addr().Unmap(), nil
}

// addrPortOf is the unmapped socket address of a, or the zero value.
func addrPortOf(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		ap := t.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}
