package privlinktest

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/privlink/privlink/config"
)

// TopologyBuilder builds a topology in Go, with addresses laid out by the
// kit on the topology's net 127.0.0.0/18 (moved onto the test's block by
// Start, like a YAML topology's), one subnet pair per AZ:
//
//	AZ i (1-based)             consumer subnet 127.0.i.0/24      provider subnet 127.0.(9+i).0/24
//	endpoint e (0-based)       interface 127.0.i.(10+e) in each AZ
//	service s (0-based)        node 127.0.(9+i).(5+s), target 127.0.(9+i).(20+s) in each AZ
//	Dial's default client      127.0.i.254
//
// so one service and one endpoint in two AZs is privlink's default
// topology: interfaces 127.0.1.10 and 127.0.2.10, nodes 127.0.10.5 and
// 127.0.11.5, targets 127.0.10.20 and 127.0.11.20. Unlike a file, a built
// topology answers a denial with reset (fast tests; AWS drops), and turns
// the admin API and DNS on. Config returns the same config.Config the
// equivalent YAML parses to; Edit changes anything the options do not
// reach.
type TopologyBuilder struct {
	azs   []string
	svcs  []serviceSpec
	eps   []endpointSpec
	edits []func(*config.Config)
}

type serviceSpec struct {
	id        string
	listeners [][2]uint16 // listener port, target port
	ppv2      bool
	mode      Mode
	hc        *config.HealthCheck
}

type endpointSpec struct {
	id, service string
	sgs         []config.SecurityGroup
	principal   string
	err         error // a bad option argument
}

// Topology starts a topology in two AZs, use1-az1 and use1-az2.
func Topology() *TopologyBuilder { return &TopologyBuilder{azs: []string{"use1-az1", "use1-az2"}} }

// AZs sets the AZ IDs (at most 8), in order.
func (b *TopologyBuilder) AZs(ids ...string) *TopologyBuilder {
	b.azs = ids
	return b
}

// ServiceOption tunes a service of the builder.
type ServiceOption func(*serviceSpec)

// Listener adds a load balancer listener on port forwarding to targets on
// targetPort (default: one listener, 8443 → 9443).
func Listener(port, targetPort uint16) ServiceOption {
	return func(s *serviceSpec) { s.listeners = append(s.listeners, [2]uint16{port, targetPort}) }
}

// ProxyProtocolV2 turns PROXY protocol v2 on for the service's targets.
func ProxyProtocolV2() ServiceOption { return func(s *serviceSpec) { s.ppv2 = true } }

// TargetMode sets what the service's recording targets do (default Echo).
func TargetMode(m Mode) ServiceOption { return func(s *serviceSpec) { s.mode = m } }

// HealthCheck turns health checks on with hc (default: off, so targets are
// healthy at once).
func HealthCheck(hc config.HealthCheck) ServiceOption {
	return func(s *serviceSpec) { hc.Enabled = true; s.hc = &hc }
}

// Service adds an endpoint service with an NLB node and one built-in
// target per AZ (served by a recording Target) for each listener.
func (b *TopologyBuilder) Service(id string, opts ...ServiceOption) *TopologyBuilder {
	s := serviceSpec{id: id, mode: Echo}
	for _, o := range opts {
		o(&s)
	}
	if len(s.listeners) == 0 {
		s.listeners = [][2]uint16{{8443, 9443}}
	}
	b.svcs = append(b.svcs, s)
	return b
}

// EndpointOption tunes an endpoint of the builder.
type EndpointOption func(*endpointSpec)

// Allow gives the endpoint a security group allowing TCP on ports (a port
// or a range, "8443" or "8000-8999") from cidr (as the topology writes
// it). Several Allow options make one group of several rules. Without
// Allow, the endpoint's group allows TCP from 127.0.0.0/8.
func Allow(cidr, ports string) EndpointOption {
	return func(e *endpointSpec) {
		r := config.SGRule{Protocol: config.ProtocolTCP}
		var err, perr error
		r.CIDR, err = netip.ParsePrefix(cidr)
		r.Ports, perr = config.ParsePortRange(ports)
		if err = errors.Join(err, perr); err != nil && e.err == nil {
			e.err = fmt.Errorf("privlinktest: endpoint %s: Allow(%q, %q): %w", e.id, cidr, ports, err)
		}
		if len(e.sgs) == 0 {
			e.sgs = []config.SecurityGroup{{ID: "sg-" + e.id}}
		}
		e.sgs[0].Ingress = append(e.sgs[0].Ingress, r)
	}
}

// Principal sets the endpoint's principal (an IAM ARN).
func Principal(arn string) EndpointOption { return func(e *endpointSpec) { e.principal = arn } }

// Endpoint adds an interface endpoint of service with an interface in
// every AZ.
func (b *TopologyBuilder) Endpoint(id, service string, opts ...EndpointOption) *TopologyBuilder {
	e := endpointSpec{id: id, service: service}
	for _, o := range opts {
		o(&e)
	}
	if len(e.sgs) == 0 {
		Allow("127.0.0.0/8", "1-65535")(&e)
	}
	b.eps = append(b.eps, e)
	return b
}

// Edit changes the built configuration before it is validated.
func (b *TopologyBuilder) Edit(fn func(*config.Config)) *TopologyBuilder {
	b.edits = append(b.edits, fn)
	return b
}

// Config builds and validates the topology; the error is a config.Errors
// naming each bad key.
func (b *TopologyBuilder) Config() (*config.Config, error) {
	c := config.New("topology")
	c.DenyAction = config.DenyReset
	c.Admin.Listen = "127.0.0.1:0"
	c.DNS.Upstream = config.UpstreamOff
	if len(b.azs) > 8 {
		return nil, fmt.Errorf("privlinktest: %d AZs; a built topology has at most 8", len(b.azs))
	}
	for i, az := range b.azs {
		c.Subnets = append(c.Subnets,
			config.Subnet{ID: fmt.Sprintf("subnet-consumer-%d", i+1), AZ: az, CIDR: net24(i + 1)},
			config.Subnet{ID: fmt.Sprintf("subnet-provider-%d", i+1), AZ: az, CIDR: net24(10 + i)})
	}
	for s, spec := range b.svcs {
		c.Services = append(c.Services, b.service(s, spec))
	}
	for e, spec := range b.eps {
		if spec.err != nil {
			return nil, spec.err
		}
		c.SecurityGroups = append(c.SecurityGroups, spec.sgs...)
		c.Endpoints = append(c.Endpoints, b.endpoint(e, spec))
	}
	for _, fn := range b.edits {
		fn(c)
	}
	if err := config.Validate(c); err != nil {
		return nil, err
	}
	return c, nil
}

func (b *TopologyBuilder) service(s int, spec serviceSpec) config.Service {
	svc := config.NewService(spec.id)
	for i := range b.azs {
		svc.LoadBalancer.Nodes = append(svc.LoadBalancer.Nodes,
			config.Node{Subnet: fmt.Sprintf("subnet-provider-%d", i+1), IP: host(10+i, 5+s)})
	}
	for _, l := range spec.listeners {
		name := fmt.Sprintf("tg-%d", l[1])
		svc.LoadBalancer.Listeners = append(svc.LoadBalancer.Listeners, config.NewListener(l[0], name))
		tg := config.NewTargetGroup(name, l[1])
		tg.ProxyProtocolV2 = spec.ppv2
		tg.HealthCheck.Enabled = false
		if spec.hc != nil {
			tg.HealthCheck = *spec.hc
		}
		for i := range b.azs {
			tg.Targets = append(tg.Targets, config.Target{IP: host(10+i, 20+s),
				Subnet: fmt.Sprintf("subnet-provider-%d", i+1), Builtin: config.Builtin(spec.mode)})
		}
		svc.TargetGroups = append(svc.TargetGroups, tg)
	}
	return svc
}

func (b *TopologyBuilder) endpoint(e int, spec endpointSpec) config.Endpoint {
	ep := config.Endpoint{ID: spec.id, Service: spec.service, Principal: spec.principal}
	for _, sg := range spec.sgs {
		ep.SecurityGroups = append(ep.SecurityGroups, sg.ID)
	}
	for i := range b.azs {
		ep.Interfaces = append(ep.Interfaces, config.Interface{Subnet: fmt.Sprintf("subnet-consumer-%d", i+1), IP: host(i+1, 10+e)})
	}
	return ep
}

func net24(n int) netip.Prefix { return netip.PrefixFrom(host(n, 0), 24) }

func host(n, h int) netip.Addr { return netip.AddrFrom4([4]byte{127, 0, byte(n), byte(h)}) }
