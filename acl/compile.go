package acl

import (
	"net/netip"

	"github.com/privlink/privlink/config"
)

// Evaluator is the compiled rule set of one configuration generation. It is
// immutable and safe for concurrent use; swap a new one in atomically on
// reload.
type Evaluator struct {
	cfg       *config.Config
	b         *builder
	consumers map[netip.AddrPort]*ConsumerPath
	providers map[providerKey]*ProviderPath
	gateway   *GatewayPath // nil without an S3 endpoint
	dynamoDB  *GatewayPath // nil without a DynamoDB endpoint
}

type providerKey struct {
	service string
	node    netip.Addr
	target  netip.AddrPort
}

// ConsumerPath is the consumer side of the path and the NLB security group
// for one endpoint interface and listener port.
type ConsumerPath struct {
	Endpoint  string
	Service   string
	AZ        string
	Interface netip.AddrPort
	// Node is the IP of the load balancer node in the interface's AZ.
	Node netip.Addr

	classes ipTable // client address → index into class
	class   []consumerClass
}

// consumerClass is the hop sequence for one kind of client: unknown, unknown
// inside the endpoint's subnet, or known clients entry i.
type consumerClass struct {
	hops [len(consumerHops)]*hopEval
}

// ProviderPath is the provider side of the path for one (service, node,
// target ip:port).
type ProviderPath struct {
	Service string
	Node    netip.Addr
	Target  netip.AddrPort
	hops    [len(providerHops)]*hopEval
}

// Compile builds the evaluator of a validated configuration.
func Compile(cfg *config.Config) *Evaluator {
	b := &builder{
		subnets: map[string]*config.Subnet{},
		nacls:   map[string]*config.NetworkACL{},
		sgs:     map[string]*config.SecurityGroup{},
		members: membership(cfg),
	}
	for i := range cfg.Subnets {
		b.subnets[cfg.Subnets[i].ID] = &cfg.Subnets[i]
	}
	for i := range cfg.NetworkACLs {
		b.nacls[cfg.NetworkACLs[i].ID] = &cfg.NetworkACLs[i]
	}
	for i := range cfg.SecurityGroups {
		b.sgs[cfg.SecurityGroups[i].ID] = &cfg.SecurityGroups[i]
	}
	e := &Evaluator{cfg: cfg, b: b, consumers: map[netip.AddrPort]*ConsumerPath{}, providers: map[providerKey]*ProviderPath{}}
	for i := range cfg.Endpoints {
		ep := &cfg.Endpoints[i]
		svc := service(cfg, ep.Service)
		if svc == nil {
			continue
		}
		for _, in := range ep.Interfaces {
			for _, l := range svc.LoadBalancer.Listeners {
				p := b.consumer(cfg, ep, svc, in, l.Port)
				e.consumers[p.Interface] = p
			}
		}
	}
	for i := range cfg.Services {
		e.compileProviders(&cfg.Services[i])
	}
	e.gateway = b.gatewayPath(cfg)
	e.dynamoDB = b.dynamoDBPath(cfg)
	return e
}

// service returns the endpoint service id, or the stand-in service of S3
// interface endpoints (no load balancer) for S3's service name.
func service(cfg *config.Config, id string) *config.Service {
	for i := range cfg.Services {
		if cfg.Services[i].ID == id {
			return &cfg.Services[i]
		}
	}
	if id == config.S3Service(cfg.Region) {
		return cfg.S3InterfaceService()
	}
	return nil
}

// membership maps every security group to the prefixes of the interfaces,
// clients, targets and load balancer nodes carrying it; "" collects the
// members of the consumer VPC's default SG: endpoint interfaces and known
// clients without security groups. A prefix list ID (pl-...) maps to its
// CIDRs, for egress rules with destination_prefix_list.
func membership(cfg *config.Config) members {
	m := members{}
	for id, cidrs := range cfg.PrefixLists() {
		m[id] = cidrs
	}
	add := func(ids []string, p netip.Prefix) {
		if len(ids) == 0 {
			m[""] = append(m[""], p)
		}
		for _, id := range ids {
			m[id] = append(m[id], p)
		}
	}
	for _, ep := range cfg.Endpoints {
		for _, in := range ep.Interfaces {
			add(ep.SecurityGroups, netip.PrefixFrom(in.IP, in.IP.BitLen()))
		}
	}
	for _, c := range cfg.Clients {
		add(c.SecurityGroups, c.CIDR)
	}
	for _, s := range cfg.Services {
		for _, n := range s.LoadBalancer.Nodes {
			for _, id := range s.LoadBalancer.SecurityGroups {
				m[id] = append(m[id], netip.PrefixFrom(n.IP, n.IP.BitLen()))
			}
		}
		for _, tg := range s.TargetGroups {
			for _, t := range tg.Targets {
				for _, id := range t.SecurityGroups {
					m[id] = append(m[id], netip.PrefixFrom(t.IP, t.IP.BitLen()))
				}
			}
		}
	}
	return m
}

// Consumer returns the compiled consumer path of an endpoint interface
// ip:listener port, or nil when no endpoint listens there.
func (e *Evaluator) Consumer(iface netip.AddrPort) *ConsumerPath {
	return e.consumers[netip.AddrPortFrom(iface.Addr().Unmap(), iface.Port())]
}

// Provider returns the compiled provider path from a service's node to a
// target ip:port (the traffic or the health-check port), or nil.
func (e *Evaluator) Provider(service string, node netip.Addr, target netip.AddrPort) *ProviderPath {
	return e.providers[providerKey{service, node.Unmap(), netip.AddrPortFrom(target.Addr().Unmap(), target.Port())}]
}

// Check decides a connection from client to the path's interface: client
// SG egress, client-subnet NACL egress, endpoint-subnet NACL ingress,
// endpoint SG ingress, the NACL return path to the client's real port, and
// the NLB security group. It appends the hops to v (which may be nil) and
// allocates nothing.
func (p *ConsumerPath) Check(client netip.AddrPort, v *Verdict) bool {
	a, port := client.Addr().Unmap(), client.Port()
	return checkHops(p.class[p.classes.lookup(a)].hops[:], a, port, v)
}

// Check decides a connection from the node's allocated port nodePort to the
// target: node-subnet NACL egress, target-subnet NACL ingress, target SG
// ingress (source: the node IP, a member of the NLB's SGs), and the NACL
// return path to nodePort. It appends the hops to v (which may be nil).
func (p *ProviderPath) Check(nodePort uint16, v *Verdict) bool {
	for _, h := range p.hops {
		if !decide(h.eval(netip.Addr{}, nodePort), v) {
			return false
		}
	}
	if v != nil {
		v.Allowed = v.Denied == HopNone
	}
	return true
}

func decide(r *HopResult, v *Verdict) bool {
	if v != nil {
		v.record(r)
		if r.Outcome == Deny {
			v.Allowed, v.Denied = false, r.Hop
		}
	}
	return r.Outcome != Deny
}

// checkHops decides a client's connection hop by hop, appending to v
// (which may be nil); the first denial ends it.
func checkHops(hops []*hopEval, a netip.Addr, port uint16, v *Verdict) bool {
	for _, h := range hops {
		if !decide(h.eval(a, port), v) {
			return false
		}
	}
	if v != nil {
		v.Allowed = v.Denied == HopNone
	}
	return true
}
