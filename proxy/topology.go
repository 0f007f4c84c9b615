package proxy

import (
	"fmt"
	"net/netip"

	"github.com/privlink/privlink/config"
)

// topology is one compiled, immutable configuration generation.
type topology struct {
	cfg    *config.Config
	routes map[netip.AddrPort]*route // endpoint interface ip:listener port
	// listenKeys names the config key of each listening address, for errors.
	listenKeys map[netip.AddrPort]string
	builtins   []builtinTarget
}

// route is everything a connection accepted on one endpoint interface
// address needs: resolved once per generation.
type route struct {
	addr       netip.AddrPort // endpoint interface ip:listener port
	endpointID string
	serviceID  string
	az         string
	node       netip.Addr // the NLB node of the interface's AZ
	listener   config.Listener
	tg         *targetGroup
	svc        serviceMetrics
	zone       zoneMetrics
}

// targetGroup holds the routable targets of one group.
type targetGroup struct {
	cfg  *config.TargetGroup
	all  []netip.AddrPort
	byAZ map[string][]netip.AddrPort
	// crossZone: every node routes to every AZ's targets.
	crossZone bool
}

// builtinTarget is a target privlink serves in-process.
type builtinTarget struct {
	addr netip.AddrPort
	mode config.Builtin
	key  string
}

func compile(cfg *config.Config, m *metrics) *topology {
	t := &topology{cfg: cfg, routes: map[netip.AddrPort]*route{}, listenKeys: map[netip.AddrPort]string{}}
	groups := map[string]map[string]*targetGroup{} // service → name → group
	for i := range cfg.Services {
		s := &cfg.Services[i]
		groups[s.ID] = map[string]*targetGroup{}
		for j := range s.TargetGroups {
			tg := &s.TargetGroups[j]
			groups[s.ID][tg.Name] = compileGroup(tg, s.LoadBalancer.CrossZone)
			for k, tgt := range tg.Targets {
				if tgt.Builtin != config.BuiltinNone {
					key := fmt.Sprintf("services[%d].target_groups[%d].targets[%d]", i, j, k)
					t.builtins = append(t.builtins, builtinTarget{addr: tgt.AddrPort(), mode: tgt.Builtin, key: key})
				}
			}
		}
	}
	svcs := map[string]*config.Service{}
	for i := range cfg.Services {
		svcs[cfg.Services[i].ID] = &cfg.Services[i]
	}
	for i := range cfg.Endpoints {
		ep := &cfg.Endpoints[i]
		s := svcs[ep.Service]
		sm := m.forService(s.ID)
		for j, in := range ep.Interfaces {
			node := s.Node(in.AZ)
			for _, l := range s.LoadBalancer.Listeners {
				addr := netip.AddrPortFrom(in.IP, l.Port)
				t.routes[addr] = &route{
					addr: addr, endpointID: ep.ID, serviceID: s.ID, az: in.AZ, node: node.IP,
					listener: l, tg: groups[s.ID][l.TargetGroup], svc: sm, zone: m.forZone(s.ID, in.AZ),
				}
				t.listenKeys[addr] = fmt.Sprintf("endpoints[%d].interfaces[%d].ip", i, j)
			}
		}
	}
	return t
}

func compileGroup(tg *config.TargetGroup, crossZone bool) *targetGroup {
	g := &targetGroup{cfg: tg, byAZ: map[string][]netip.AddrPort{}, crossZone: crossZone}
	for _, t := range tg.Targets {
		g.all = append(g.all, t.AddrPort())
		g.byAZ[t.AZ] = append(g.byAZ[t.AZ], t.AddrPort())
	}
	return g
}

// pick chooses the target of a new flow by a hash of its 4-tuple over the
// targets of the node's AZ (every AZ with cross-zone load balancing); a
// connection keeps its target for life.
func (g *targetGroup) pick(az string, client, iface netip.AddrPort) (netip.AddrPort, bool) {
	candidates := g.byAZ[az]
	if g.crossZone {
		candidates = g.all
	}
	if len(candidates) == 0 {
		return netip.AddrPort{}, false
	}
	return candidates[flowHash(client, iface)%uint64(len(candidates))], true
}

// flowHash mixes a flow's addresses and ports (FNV-1a over 16-byte addresses).
func flowHash(a, b netip.AddrPort) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	for _, ap := range [2]netip.AddrPort{a, b} {
		ip := ap.Addr().As16()
		for _, c := range ip {
			h = (h ^ uint64(c)) * prime
		}
		h = (h ^ uint64(ap.Port())) * prime
	}
	return h
}
