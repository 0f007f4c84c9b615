package acl

import (
	"net/netip"

	"github.com/privlink/privlink/config"
)

// loopbackSource is the source address Linux gives a connection to any
// 127.0.0.0/8 address when the client does not bind one.
var loopbackSource = netip.MustParseAddr("127.0.0.1")

// AdmittedClient returns a client address whose connections to iface (an
// endpoint interface ip:listener port) the consumer-side rules admit from
// both ends of the Linux ephemeral port range, for a "try this" hint:
// 127.0.0.1 when admitted (what a plain `nc` uses towards 127.0.0.0/8),
// else the first admitted address taken from cfg's clients, subnets and
// security-group and NACL rule CIDRs, for which usable (nil: any) holds.
// The rules' own addresses (endpoint interfaces, nodes, targets) are not
// offered. ok is false when none is admitted or no endpoint listens on
// iface.
func (e *Evaluator) AdmittedClient(cfg *config.Config, iface netip.AddrPort, usable func(netip.Addr) bool) (client netip.Addr, ok bool) {
	cp := e.Consumer(iface)
	if cp == nil {
		return netip.Addr{}, false
	}
	taken := takenAddrs(cfg)
	for _, a := range clientCandidates(cfg) {
		if taken[a] || usable != nil && !usable(a) {
			continue
		}
		if cp.Check(netip.AddrPortFrom(a, LinuxEphemeralFrom), nil) && cp.Check(netip.AddrPortFrom(a, LinuxEphemeralTo), nil) {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// clientCandidates lists 127.0.0.1, then one host address of every prefix
// the configuration names for clients, in file order.
func clientCandidates(cfg *config.Config) []netip.Addr {
	out := []netip.Addr{loopbackSource}
	add := func(p netip.Prefix) {
		if p.IsValid() {
			out = append(out, hostOf(p))
		}
	}
	for _, c := range cfg.Clients {
		add(c.CIDR)
	}
	for _, s := range cfg.Subnets {
		add(s.CIDR)
	}
	for _, sg := range cfg.SecurityGroups {
		for _, r := range sg.Ingress {
			add(r.CIDR)
		}
	}
	for _, n := range cfg.NetworkACLs {
		for _, r := range n.Ingress {
			add(r.CIDR)
		}
	}
	return out
}

// hostOf is a host address of p: p's address for a single host, else the
// 50th address of the prefix (the first one past the usual gateway and
// infrastructure addresses) when it fits, else the first.
func hostOf(p netip.Prefix) netip.Addr {
	p = p.Masked()
	if p.IsSingleIP() {
		return p.Addr()
	}
	a := p.Addr()
	for range 50 {
		n := a.Next()
		if !p.Contains(n) {
			return p.Addr().Next()
		}
		a = n
	}
	return a
}

// takenAddrs are the addresses the topology itself listens or dials from.
func takenAddrs(cfg *config.Config) map[netip.Addr]bool {
	m := map[netip.Addr]bool{}
	for _, ep := range cfg.Endpoints {
		for _, in := range ep.Interfaces {
			m[in.IP] = true
		}
	}
	for _, sv := range cfg.Services {
		for _, n := range sv.LoadBalancer.Nodes {
			m[n.IP] = true
		}
		for _, tg := range sv.TargetGroups {
			for _, t := range tg.Targets {
				m[t.IP] = true
			}
		}
	}
	return m
}
