package proxy

import (
	"time"

	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"
	"syscall"

	"github.com/privlink/privlink/acl"
	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/conntrack"
	"github.com/privlink/privlink/proxy/dns"
)

// topology is one compiled, immutable configuration generation.
type topology struct {
	cfg    *config.Config
	routes map[netip.AddrPort]*route // endpoint interface ip:listener port
	// listenKeys names the config key of each listening address, for errors.
	listenKeys map[netip.AddrPort]string
	builtins   []builtinTarget
	// headerFrom lists, per built-in target, the NLB node IPs that send it
	// PROXY headers (its target groups with proxy_protocol_v2).
	headerFrom map[netip.AddrPort]map[netip.Addr]bool
	rules      *acl.Evaluator // made live (Server.rules) with the generation
	names      *dns.Zone      // the endpoints' DNS names
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
	consumer   *acl.ConsumerPath // the consumer's rules and the NLB SG
	path       conntrack.Path    // shared by the route's entries in the connection table
	svc        serviceMetrics
	zone       zoneMetrics
}

// builtinTarget is a target privlink serves in-process.
type builtinTarget struct {
	addr  netip.AddrPort
	mode  config.Builtin
	key   string
	drain time.Duration // its target group's deregistration_delay
}

// groupKey names a target group across services.
func groupKey(service, name string) string { return service + "/" + name }

// compile resolves cfg into routes over the server's runtime target groups
// and endpoints (created here when new; their targets and states are
// reconciled by apply once the generation's sockets are open).
func (s *Server) compile(cfg *config.Config) *topology {
	t := &topology{cfg: cfg, routes: map[netip.AddrPort]*route{}, listenKeys: map[netip.AddrPort]string{},
		headerFrom: map[netip.AddrPort]map[netip.Addr]bool{}, names: dns.Compile(cfg)}
	rules := s.compileRules(cfg)
	t.rules = rules
	for i := range cfg.Services {
		sv := &cfg.Services[i]
		for j := range sv.TargetGroups {
			tg := &sv.TargetGroups[j]
			for k, tgt := range tg.Targets {
				if tgt.Builtin != config.BuiltinNone {
					key := fmt.Sprintf("services[%d].target_groups[%d].targets[%d]", i, j, k)
					t.builtins = append(t.builtins, builtinTarget{addr: tgt.AddrPort(), mode: tgt.Builtin, key: key, drain: tg.DeregistrationDelay.D()})
					t.trustNodes(tgt.AddrPort(), sv, tg)
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
		if ep.ForAWSService() {
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

// flowHash hashes a flow's 5-tuple — protocol (TCP), client ip:port,
// endpoint interface ip:port — for the pick of its target: each field is
// folded in by multiplication and the sum finished with murmur3's 64-bit
// finalizer, so every bit of every field moves every bit of the hash and
// one host's connections (Linux gives connect() even ports) spread as
// evenly as many hosts'. AWS also hashes the TCP sequence number,
// which makes its pick random per connection; privlink's is as even and
// stable per tuple. It allocates nothing.
func flowHash(client, iface netip.AddrPort) uint64 {
	c, i := client.Addr().As16(), iface.Addr().As16()
	h := fold(syscall.IPPROTO_TCP, binary.BigEndian.Uint64(c[:8]))
	h = fold(h, binary.BigEndian.Uint64(c[8:]))
	h = fold(h, binary.BigEndian.Uint64(i[:8]))
	h = fold(h, binary.BigEndian.Uint64(i[8:]))
	h = fold(h, uint64(client.Port())<<16|uint64(iface.Port()))
	return fmix64(h)
}

// fold mixes one 64-bit word into h (multiplication by 2^64/φ, odd, and a
// rotation that carries the high bits down for the next word).
func fold(h, w uint64) uint64 { return bits.RotateLeft64((h^w)*0x9e3779b97f4a7c15, 31) }

// fmix64 is murmur3's 64-bit finalizer: an avalanche of every input bit.
func fmix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
