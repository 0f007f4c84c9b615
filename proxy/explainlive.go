package proxy

import (
	"net/netip"
	"slices"

	"github.com/privlink/privlink/acl"
	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/conntrack"
)

// live is the running state GET /v1/explain weighs besides the rules: the
// endpoint's state, the registered targets (from the file and the API)
// with their health, draining, the target the flow hash picks for the
// client's port, and the node's port pool towards each.
func (s *Server) live(q acl.Query) *acl.Live {
	l := &acl.Live{Targets: func(p acl.LivePath) []acl.LiveTarget { return s.liveTargets(p, q) }}
	if e := s.lookupEndpoint(q.Endpoint); e != nil {
		l.EndpointState, l.EndpointReason = e.snapshot()
	}
	return l
}

// liveTargets lists the registered targets in the scope of a path's node
// (its AZ; every AZ with cross-zone) as pick would choose among them.
func (s *Server) liveTargets(p acl.LivePath, q acl.Query) []acl.LiveTarget {
	g := s.lookupGroup(groupKey(p.Service, p.TargetGroup))
	if g == nil {
		return []acl.LiveTarget{}
	}
	scope := p.AZ
	if g.crossZone.Load() {
		scope = ""
	}
	sel := g.sel.Load()
	routed, failOpen := sel.healthy[scope], false
	if len(routed) == 0 {
		routed, failOpen = sel.live[scope], true
	}
	var picked *target
	if q.FromPort != 0 {
		picked, _ = g.pick(p.AZ, netip.AddrPortFrom(q.From.Unmap(), q.FromPort), p.Interface)
	}
	pools := s.poolsOf(p.Node)
	out := []acl.LiveTarget{}
	for _, t := range g.inScope(scope) {
		info := t.info()
		lt := acl.LiveTarget{
			Target: config.Target{IP: t.addr.Addr(), Port: t.addr.Port(), AZ: t.az, Subnet: t.subnet, SecurityGroups: t.sgs},
			State:  info.State, Reason: info.Reason,
			NewFlows: slices.Contains(routed, t), Picked: t == picked,
		}
		lt.FailOpen = failOpen && lt.NewFlows
		if pl := pools[t.addr]; pl != nil {
			lt.PortsInUse, lt.PortBudget = pl.InUse(), pl.Budget()
		}
		out = append(out, lt)
	}
	return out
}

// inScope lists the group's registered targets in an AZ ("" = all), in
// address order.
func (g *targetGroup) inScope(az string) []*target {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*target
	for _, t := range g.targets {
		if az == "" || t.az == az {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b *target) int { return a.addr.Compare(b.addr) })
	return out
}

// poolsOf returns the port pools of a node by target.
func (s *Server) poolsOf(node netip.Addr) map[netip.AddrPort]*conntrack.Pool {
	out := map[netip.AddrPort]*conntrack.Pool{}
	s.ports.Each(func(n netip.Addr, t netip.AddrPort, pl *conntrack.Pool) {
		if n == node.Unmap() {
			out[t] = pl
		}
	})
	return out
}
