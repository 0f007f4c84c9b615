package acl

import (
	"net/netip"

	"github.com/privlink/privlink/config"
)

// Client classes of a ConsumerPath: unknown clients, unknown clients inside
// the endpoint's subnet, then one class per clients entry.
const (
	classUnknown = iota
	classSameSubnet
	classKnown
)

// consumer compiles the consumer path of one endpoint interface and
// listener port.
func (b *builder) consumer(cfg *config.Config, ep *config.Endpoint, svc *config.Service, in config.Interface, port uint16) *ConsumerPath {
	p := &ConsumerPath{Endpoint: ep.ID, Service: svc.ID, AZ: in.AZ, Interface: netip.AddrPortFrom(in.IP, port)}
	if n := svc.Node(in.AZ); n != nil {
		p.Node = n.IP
	}
	place := ep.ID + "/" + in.IP.String()
	epNACLIn := b.naclByIP(HopEndpointNACLIngress, in.Subnet, false, port)
	epNACLOut := b.naclByIPPort(HopEndpointNACLEgressReturn, in.Subnet, true)
	epSG := b.defaultSGByIP(HopEndpointSGIngress, place)
	if len(ep.SecurityGroups) > 0 {
		epSG = b.sgByIP(HopEndpointSGIngress, place, ep.SecurityGroups, port)
	}
	nlb := b.nlbSG(&svc.LoadBalancer, port)
	if svc.AWSService != "" && len(svc.LoadBalancer.Nodes) == 0 { // S3: it answers at the interface
		nlb = skipEval(HopNLBSGIngress, ReasonNoLoadBalancer, svc.ID)
	}
	unknownSG := skipEval(HopClientSGEgress, ReasonUnknownClient, "")
	p.class = make([]consumerClass, classKnown+len(cfg.Clients))
	p.class[classUnknown].hops = [...]*hopEval{unknownSG, skipEval(HopClientNACLEgress, ReasonUnknownClient, ""),
		epNACLIn, epSG, epNACLOut, skipEval(HopClientNACLIngressReturn, ReasonUnknownClient, ""), nlb}
	same := sameSubnet(in.Subnet)
	p.class[classSameSubnet].hops = [...]*hopEval{unknownSG, same[0], same[1], epSG, same[2], same[3], nlb}
	items := []ipItem{}
	for i, c := range cfg.Clients {
		cp := "client " + c.CIDR.String()
		sg := constEval(HopResult{Hop: HopClientSGEgress, Outcome: Allow, Reason: ReasonDefaultEgress, Rule: -1, Place: cp, Object: DefaultSG})
		if len(c.SecurityGroups) > 0 {
			sg = b.sgConst(HopClientSGEgress, cp, c.SecurityGroups, true, in.IP, port)
		}
		cl := &p.class[classKnown+i]
		if c.Subnet == in.Subnet {
			cl.hops = [...]*hopEval{sg, same[0], same[1], epSG, same[2], same[3], nlb}
		} else {
			cl.hops = [...]*hopEval{sg, b.naclConst(HopClientNACLEgress, c.Subnet, true, in.IP, port),
				epNACLIn, epSG, epNACLOut, b.naclByPort(HopClientNACLIngressReturn, c.Subnet, false, in.IP), nlb}
		}
		items = append(items, ipItem{c.CIDR, i, int32(classKnown + i)})
	}
	if s := b.subnets[in.Subnet]; s != nil {
		items = append(items, ipItem{s.CIDR, len(items), classSameSubnet})
	}
	p.classes = newIPTable(items, classUnknown)
	return p
}

// sameSubnet returns the four NACL hops of the consumer side, skipped.
func sameSubnet(subnet string) [4]*hopEval {
	return [4]*hopEval{
		skipEval(HopClientNACLEgress, ReasonSameSubnet, subnet),
		skipEval(HopEndpointNACLIngress, ReasonSameSubnet, subnet),
		skipEval(HopEndpointNACLEgressReturn, ReasonSameSubnet, subnet),
		skipEval(HopClientNACLIngressReturn, ReasonSameSubnet, subnet),
	}
}

// nlbSG is the NLB's security groups on PrivateLink traffic: evaluated with
// the client IP as source when the NLB has groups and enforcement is on.
func (b *builder) nlbSG(lb *config.LoadBalancer, port uint16) *hopEval {
	switch {
	case len(lb.SecurityGroups) == 0:
		return skipEval(HopNLBSGIngress, ReasonNoSecurityGroups, lb.Name)
	case !lb.EnforceInboundRulesOnPrivateLink:
		return skipEval(HopNLBSGIngress, ReasonNotEnforced, lb.Name)
	}
	return b.sgByIP(HopNLBSGIngress, lb.Name, lb.SecurityGroups, port)
}

// compileProviders compiles every (node, target, port) of a service, the
// health-check port included.
func (e *Evaluator) compileProviders(svc *config.Service) {
	for _, n := range svc.LoadBalancer.Nodes {
		for _, tg := range svc.TargetGroups {
			for _, t := range tg.Targets {
				ports := []uint16{t.Port}
				if hc := tg.HealthCheck.Port; hc != 0 && hc != t.Port {
					ports = append(ports, hc)
				}
				for _, port := range ports {
					p := e.b.provider(e.cfg, svc, n, t, port)
					e.providers[providerKey{svc.ID, n.IP, p.Target}] = p
				}
			}
		}
	}
}

// subnetOf returns a target's subnet: the configured one, or the subnet
// whose CIDR holds its address ("" if none).
func subnetOf(cfg *config.Config, t config.Target) string {
	if t.Subnet != "" {
		return t.Subnet
	}
	for _, s := range cfg.Subnets {
		if s.CIDR.Contains(t.IP) {
			return s.ID
		}
	}
	return ""
}

func (b *builder) provider(cfg *config.Config, svc *config.Service, n config.Node, t config.Target, port uint16) *ProviderPath {
	dst := netip.AddrPortFrom(t.IP, port)
	p := &ProviderPath{Service: svc.ID, Node: n.IP, Target: dst}
	ts := subnetOf(cfg, t)
	place := "target " + dst.String()
	sg := skipEval(HopTargetSGIngress, ReasonNoSecurityGroups, place)
	if len(t.SecurityGroups) > 0 {
		sg = b.sgConst(HopTargetSGIngress, place, t.SecurityGroups, false, n.IP, port)
	}
	switch {
	case ts == n.Subnet:
		p.hops = [...]*hopEval{skipEval(HopNodeNACLEgress, ReasonSameSubnet, ts), skipEval(HopTargetNACLIngress, ReasonSameSubnet, ts),
			sg, skipEval(HopTargetNACLEgressReturn, ReasonSameSubnet, ts), skipEval(HopNodeNACLIngressReturn, ReasonSameSubnet, ts)}
	case ts == "":
		p.hops = [...]*hopEval{b.naclConst(HopNodeNACLEgress, n.Subnet, true, t.IP, port), skipEval(HopTargetNACLIngress, ReasonNoSubnet, ""),
			sg, skipEval(HopTargetNACLEgressReturn, ReasonNoSubnet, ""), b.naclByPort(HopNodeNACLIngressReturn, n.Subnet, false, t.IP)}
	default:
		p.hops = [...]*hopEval{b.naclConst(HopNodeNACLEgress, n.Subnet, true, t.IP, port), b.naclConst(HopTargetNACLIngress, ts, false, n.IP, port),
			sg, b.naclByPort(HopTargetNACLEgressReturn, ts, true, n.IP), b.naclByPort(HopNodeNACLIngressReturn, n.Subnet, false, t.IP)}
	}
	return p
}
