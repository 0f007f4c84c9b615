package privlinktest

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"

	"github.com/privlink/privlink/config"
)

// Moving a topology onto a block: the rule is in doc.go ("Addresses").

var loopback = netip.MustParsePrefix("127.0.0.0/8")

// mover maps the addresses of a topology's net onto a block.
type mover struct {
	from, to netip.Prefix
}

// newMover finds the topology's net: the /18 of its first 127.x address.
func newMover(cfg *config.Config, to netip.Prefix) *mover {
	m := &mover{from: netip.MustParsePrefix("127.0.0.0/18"), to: to}
	var first netip.Addr
	walk(reflect.ValueOf(cfg).Elem(), "", func(v reflect.Value, _ string) {
		switch a := v.Interface().(type) {
		case netip.Addr:
			if !first.IsValid() && loopback.Contains(a) {
				first = a
			}
		case netip.Prefix:
			if !first.IsValid() && a.Bits() >= BlockBits && loopback.Contains(a.Addr()) {
				first = a.Addr()
			}
		}
	})
	if first.IsValid() {
		m.from = netip.PrefixFrom(first, BlockBits).Masked()
	}
	return m
}

// addr moves a; ok is false for a 127.x address outside the topology's net.
func (m *mover) addr(a netip.Addr) (netip.Addr, bool) {
	a = a.Unmap()
	if !loopback.Contains(a) {
		return a, true
	}
	if !m.from.Contains(a) {
		return a, false
	}
	return offset(m.to, u32(a)-u32(m.from.Addr())), true
}

// prefix moves a CIDR (see the rule above).
func (m *mover) prefix(p netip.Prefix) (netip.Prefix, bool) {
	switch {
	case !p.IsValid() || !p.Addr().Is4() || !p.Overlaps(loopback) || p.Bits() <= 8:
		return p, true
	case p.Bits() < BlockBits && p.Contains(m.from.Addr()):
		return m.to, true
	}
	a, ok := m.addr(p.Addr())
	return netip.PrefixFrom(a, p.Bits()), ok && p.Bits() >= BlockBits
}

// hostPort moves the IP of an "ip:port" string; others stay as they are.
func (m *mover) hostPort(s string) string {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return s
	}
	if a, ok := m.addr(ap.Addr()); ok {
		return netip.AddrPortFrom(a, ap.Port()).String()
	}
	return s
}

// move moves every address of cfg; the error lists the addresses outside
// the topology's net, each with its key and line.
func (m *mover) move(cfg *config.Config) error {
	var errs config.Errors
	bad := func(path string, what any) {
		errs = append(errs, config.Error{File: cfg.Source, Line: cfg.NearestLine(path), Path: path,
			Msg: fmt.Sprintf("%v is outside %s, the topology's /%d (the net of its first 127.x address) that privlinktest moves onto the test's own block; keep every 127.x address of a topology in one /%d, or use 127.0.0.0/8", what, m.from, BlockBits, BlockBits)})
	}
	walk(reflect.ValueOf(cfg).Elem(), "", func(v reflect.Value, path string) {
		switch a := v.Interface().(type) {
		case netip.Addr:
			n, ok := m.addr(a)
			if !ok {
				bad(path, a)
			}
			v.Set(reflect.ValueOf(n))
		case netip.Prefix:
			n, ok := m.prefix(a)
			if !ok {
				bad(path, a)
			}
			v.Set(reflect.ValueOf(n))
		case netip.AddrPort:
			n, ok := m.addr(a.Addr())
			if !ok {
				bad(path, a)
			}
			if a.IsValid() {
				v.Set(reflect.ValueOf(netip.AddrPortFrom(n, a.Port())))
			}
		}
	})
	cfg.S3.Listen = m.hostPort(cfg.S3.Listen)
	cfg.DNS.Upstream = m.hostPort(cfg.DNS.Upstream)
	if len(errs) > 0 {
		return errs
	}
	return nil
}

var (
	addrType     = reflect.TypeFor[netip.Addr]()
	prefixType   = reflect.TypeFor[netip.Prefix]()
	addrPortType = reflect.TypeFor[netip.AddrPort]()
)

// walk calls fn for every netip.Addr, netip.Prefix and netip.AddrPort under v with its key
// path as configuration errors spell it (services[0].load_balancer...).
func walk(v reflect.Value, path string, fn func(v reflect.Value, path string)) {
	switch {
	case v.Type() == addrType || v.Type() == prefixType || v.Type() == addrPortType:
		fn(v, path)
	case v.Kind() == reflect.Slice:
		for i := range v.Len() {
			walk(v.Index(i), fmt.Sprintf("%s[%d]", path, i), fn)
		}
	case v.Kind() == reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || key == "" || key == "-" {
				continue
			}
			if path != "" {
				key = path + "." + key
			}
			walk(v.Field(i), key, fn)
		}
	}
}
