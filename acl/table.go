package acl

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"
)

// Interval tables: the compile step turns rule sets into sorted, disjoint
// ranges of addresses or ports, each mapped to the decision for that range,
// so the data path decides with a binary search instead of a rule scan.

// u128 is an address or port as a 128-bit number.
type u128 struct{ hi, lo uint64 }

func (a u128) cmp(b u128) int {
	if c := cmp.Compare(a.hi, b.hi); c != 0 {
		return c
	}
	return cmp.Compare(a.lo, b.lo)
}

// next returns a+1 and whether it overflowed.
func (a u128) next() (u128, bool) {
	a.lo++
	if a.lo == 0 {
		a.hi++
		return a, a.hi == 0
	}
	return a, false
}

// span is an inclusive range [lo, hi].
type span struct{ lo, hi u128 }

var (
	max32  = u128{lo: 1<<32 - 1}
	max16  = u128{lo: 1<<16 - 1}
	max128 = u128{hi: ^uint64(0), lo: ^uint64(0)}
)

func addrKey(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{lo: uint64(binary.BigEndian.Uint32(b[:]))}
	}
	b := a.As16()
	return u128{hi: binary.BigEndian.Uint64(b[:8]), lo: binary.BigEndian.Uint64(b[8:])}
}

// prefixSpan returns the addresses of p (which must be masked) as a span of
// its family's key space.
func prefixSpan(p netip.Prefix) span {
	lo := addrKey(p.Addr())
	host := p.Addr().BitLen() - p.Bits()
	hi := lo
	switch {
	case host >= 128:
		hi = max128
	case host >= 64:
		hi.lo = ^uint64(0)
		hi.hi |= 1<<(host-64) - 1
	default:
		hi.lo |= 1<<host - 1
	}
	return span{lo, hi}
}

func portSpan(from, to uint16) span { return span{u128{lo: uint64(from)}, u128{lo: uint64(to)}} }

// segments splits [0, limit] at every boundary of spans and returns the
// start of each segment with the indexes of the spans covering it (in input
// order); adjacent segments with the same cover are merged.
func segments(limit u128, spans []span) (starts []u128, cover [][]int) {
	bounds := []u128{{}}
	for _, s := range spans {
		bounds = append(bounds, s.lo)
		if n, over := s.hi.next(); !over && n.cmp(limit) <= 0 {
			bounds = append(bounds, n)
		}
	}
	slices.SortFunc(bounds, u128.cmp)
	bounds = slices.Compact(bounds)
	for _, b := range bounds {
		var c []int
		for i, s := range spans {
			if s.lo.cmp(b) <= 0 && b.cmp(s.hi) <= 0 {
				c = append(c, i)
			}
		}
		if n := len(cover); n > 0 && slices.Equal(cover[n-1], c) {
			continue
		}
		starts, cover = append(starts, b), append(cover, c)
	}
	return starts, cover
}

// item is a span with a priority (lower wins) and the value it maps to.
type item struct {
	span
	prio int
	val  int32
}

// winners maps every segment of [0, limit] to the value of its
// lowest-priority covering item, or def.
func winners(limit u128, items []item, def int32) (starts []u128, vals []int32) {
	spans := make([]span, len(items))
	for i := range items {
		spans[i] = items[i].span
	}
	st, cover := segments(limit, spans)
	for i, c := range cover {
		v := def
		if len(c) > 0 {
			best := slices.MinFunc(c, func(a, b int) int { return cmp.Compare(items[a].prio, items[b].prio) })
			v = items[best].val
		}
		if n := len(vals); n > 0 && vals[n-1] == v {
			continue
		}
		starts, vals = append(starts, st[i]), append(vals, v)
	}
	return starts, vals
}

// portTable maps a port to a value.
type portTable struct {
	starts []uint16
	vals   []int32
}

func newPortTable(items []item, def int32) portTable {
	st, vals := winners(max16, items, def)
	t := portTable{starts: make([]uint16, len(st)), vals: vals}
	for i, s := range st {
		t.starts[i] = uint16(s.lo)
	}
	return t
}

func (t *portTable) lookup(p uint16) int32 {
	lo, hi := 0, len(t.starts)
	for hi-lo > 1 {
		m := int(uint(lo+hi) >> 1)
		if t.starts[m] <= p {
			lo = m
		} else {
			hi = m
		}
	}
	return t.vals[lo]
}

// end returns the last port of segment i.
func (t *portTable) end(i int) uint16 {
	if i+1 < len(t.starts) {
		return t.starts[i+1] - 1
	}
	return 65535
}

// ipTable maps an address (IPv4 or IPv6 table by family) to a value.
type ipTable struct {
	v4     []uint32
	v4vals []int32
	v6     []u128
	v6vals []int32
}

// ipItem is an address prefix with a priority and value.
type ipItem struct {
	prefix netip.Prefix
	prio   int
	val    int32
}

func newIPTable(items []ipItem, def int32) ipTable {
	var t ipTable
	var i4, i6 []item
	for _, it := range items {
		x := item{span: prefixSpan(it.prefix.Masked()), prio: it.prio, val: it.val}
		if it.prefix.Addr().Is4() {
			i4 = append(i4, x)
		} else {
			i6 = append(i6, x)
		}
	}
	st, vals := winners(max32, i4, def)
	t.v4, t.v4vals = make([]uint32, len(st)), vals
	for i, s := range st {
		t.v4[i] = uint32(s.lo)
	}
	t.v6, t.v6vals = winners(max128, i6, def)
	return t
}

// lookup expects an unmapped address.
func (t *ipTable) lookup(a netip.Addr) int32 {
	if a.Is4() {
		b := a.As4()
		k := binary.BigEndian.Uint32(b[:])
		lo, hi := 0, len(t.v4)
		for hi-lo > 1 {
			m := int(uint(lo+hi) >> 1)
			if t.v4[m] <= k {
				lo = m
			} else {
				hi = m
			}
		}
		return t.v4vals[lo]
	}
	k := addrKey(a)
	lo, hi := 0, len(t.v6)
	for hi-lo > 1 {
		m := int(uint(lo+hi) >> 1)
		if t.v6[m].cmp(k) <= 0 {
			lo = m
		} else {
			hi = m
		}
	}
	return t.v6vals[lo]
}
