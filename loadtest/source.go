package loadtest

import (
	"math/big"
	"net/netip"
	"sync/atomic"
)

// maxSourceHosts bounds how many addresses of a source prefix are used:
// far more than any test needs, and it keeps the arithmetic in uint64.
const maxSourceHosts = 1 << 24

// sources hands out local addresses of a prefix round robin. The network
// address and, for IPv4 prefixes of /30 and shorter, the broadcast address
// are skipped, as are the IPv6 subnet-router anycast address (all host bits
// zero); /31, /32 and /127, /128 use every address.
type sources struct {
	base  netip.Addr // the first usable address
	hosts uint64     // how many usable addresses follow base (inclusive)
	next  atomic.Uint64
}

func newSources(p netip.Prefix) *sources {
	if !p.IsValid() {
		return nil
	}
	p = p.Masked()
	s := &sources{base: p.Addr(), hosts: hostCount(p)}
	if skipsNetwork(p) {
		s.base = s.base.Next()
	}
	return s
}

// hostCount is the number of usable addresses of p (capped).
func hostCount(p netip.Prefix) uint64 {
	hostBits := p.Addr().BitLen() - p.Bits()
	if hostBits >= 25 {
		return maxSourceHosts
	}
	n := uint64(1) << hostBits
	if skipsNetwork(p) {
		n--
		if p.Addr().Is4() {
			n-- // broadcast
		}
	}
	return n
}

// skipsNetwork reports whether p has a network (IPv4) or subnet-router
// anycast (IPv6) address that is not a usable host.
func skipsNetwork(p netip.Prefix) bool {
	return p.Addr().BitLen()-p.Bits() >= 2
}

// pick returns the next source address.
func (s *sources) pick() netip.Addr {
	i := s.next.Add(1) - 1
	return addOffset(s.base, i%s.hosts)
}

// used is the number of distinct addresses handed out so far.
func (s *sources) used() int {
	if s == nil {
		return 0
	}
	return int(min(s.next.Load(), s.hosts))
}

func addOffset(a netip.Addr, off uint64) netip.Addr {
	if a.Is4() {
		b := a.As4()
		v := uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
		v += off
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	b := a.As16()
	n := new(big.Int).SetBytes(b[:])
	n.Add(n, new(big.Int).SetUint64(off))
	n.FillBytes(b[:])
	return netip.AddrFrom16(b)
}
