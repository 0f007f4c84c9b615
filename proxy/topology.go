package proxy

import (
	"fmt"
	"net/netip"

	"github.com/privlink/privlink/acl"
	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/conntrack"
)

// topology is one compiled, immutable configuration generation.
type topology struct {
	cfg    *config.Config
	routes map[netip.AddrPort]*route // endpoint interface ip:listener port
	// listenKeys names the config key of each listening address, for errors.
	listenKeys map[netip.AddrPort]string
	builtins   []builtinTarget
	rules      *acl.Evaluator // made live (Server.rules) with the generation
}

// route is everything a connection accepted on one endpoint interface
// address needs: resolved once per generation.
type route struct {
	addr       netip.AddrPort // endpoint interface ip:listener port
	endpointID string
	serviceID  string
	az         string
	node       netip.Addr // the NLB node of the interface's AZ
	subnet     string     // of the endpoint interface
	nodeSubnet string
	listener   config.Listener
	tg         *targetGroup
	ep         *endpoint
	consumer   *acl.ConsumerPath // SPEC §4 step 2 and the NLB SG
	path       conntrack.Path    // shared by the route's entries in the connection table
	svc        serviceMetrics
	zone       zoneMetrics
}

// builtinTarget is a target privlink serves in-process.
type builtinTarget struct {
	addr netip.AddrPort
	mode config.Builtin
	key  string
}

// groupKey names a target group across services.
func groupKey(service, name string) string { return service + "/" + name }

// compile resolves cfg into routes over the server's runtime target groups
// and endpoints (created here when new; their targets and states are
// reconciled by apply once the generation's sockets are open).
func (s *Server) compile(cfg *config.Config) *topology {
	t := &topology{cfg: cfg, routes: map[netip.AddrPort]*route{}, listenKeys: map[netip.AddrPort]string{}}
	rules := s.compileRules(cfg)
	t.rules = rules
	for i := range cfg.Services {
		sv := &cfg.Services[i]
		for j := range sv.TargetGroups {
			tg := &sv.TargetGroups[j]
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
		if ep.IsGateway() {
			continue // served by the S3 front (proxy/gateway)
		}
		sv := svcs[ep.Service]
		sm := s.m.forService(sv.ID)
		e, _ := s.endpointFor(ep, sv)
		for j, in := range ep.Interfaces {
			node := sv.Node(in.AZ)
			for _, l := range sv.LoadBalancer.Listeners {
				addr := netip.AddrPortFrom(in.IP, l.Port)
				t.routes[addr] = &route{
					addr: addr, endpointID: ep.ID, serviceID: sv.ID, az: in.AZ, node: node.IP,
					subnet: in.Subnet, nodeSubnet: node.Subnet,
					listener: l, tg: s.groupFor(sv, sv.TargetGroup(l.TargetGroup)), ep: e, consumer: rules.Consumer(addr),
					svc: sm, zone: s.m.forZone(sv.ID, in.AZ),
				}
				rt := t.routes[addr]
				rt.path = conntrack.Path{Iface: addr, Endpoint: ep.ID, Service: sv.ID, AZ: in.AZ,
					TargetGroup: l.TargetGroup, Subnet: in.Subnet, NodeSubnet: node.Subnet}
				t.listenKeys[addr] = fmt.Sprintf("endpoints[%d].interfaces[%d].ip", i, j)
			}
		}
	}
	return t
}

// groupFor returns the runtime of a target group, creating it when new.
func (s *Server) groupFor(sv *config.Service, tg *config.TargetGroup) *targetGroup {
	s.rtMu.Lock()
	defer s.rtMu.Unlock()
	key := groupKey(sv.ID, tg.Name)
	g := s.groups[key]
	if g == nil {
		g = newTargetGroup(sv.ID, tg)
		s.groups[key] = g
	}
	return g
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
