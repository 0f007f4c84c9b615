package acl

import (
	"fmt"
	"net/netip"

	"github.com/privlink/privlink/config"
)

// GatewayPath is the way from a client to the S3 (or DynamoDB) endpoint
// through a gateway endpoint: the route table of the client's
// subnet must route the service's prefix list to a gateway endpoint, the
// client's security groups must allow the service's address out (a CIDR or
// the prefix list), and its subnet's network ACL must allow the request out
// and the reply in. Gateway endpoints have no interface, security group or
// NACL of their own.
type GatewayPath struct {
	Addr       netip.AddrPort // the service's regional endpoint
	Service    string         // S3 or DynamoDB
	PrefixList string
	classes    ipTable // client address → index into class
	class      []gatewayClass
}

// GatewayRoute is where a client's traffic to the service goes.
type GatewayRoute struct {
	// Endpoint is the gateway endpoint its route table leads to; "" when
	// the client has no route to S3.
	Endpoint   string
	Subnet     string // the client's subnet ("" when in none)
	AZ         string
	RouteTable string
}

type gatewayClass struct {
	route GatewayRoute
	hops  [len(gatewayHops)]*hopEval
}

// gatewayHops are the hops GatewayPath.Check evaluates, in order.
var gatewayHops = [...]Hop{HopRouteTable, HopClientSGEgress, HopClientNACLEgress, HopClientNACLIngressReturn}

// Gateway returns the compiled path to the S3 endpoint, or nil when the
// configuration has none.
func (e *Evaluator) Gateway() *GatewayPath { return e.gateway }

// DynamoDBGateway returns the compiled path to the DynamoDB endpoint, or
// nil when the configuration has none.
func (e *Evaluator) DynamoDBGateway() *GatewayPath { return e.dynamoDB }

// GatewayOf returns the path to the service of a gateway endpoint (nil:
// not a gateway endpoint, or its service has no endpoint configured).
func (e *Evaluator) GatewayOf(endpoint string) *GatewayPath {
	for i := range e.cfg.Endpoints {
		if ep := &e.cfg.Endpoints[i]; ep.ID == endpoint && ep.IsGateway() {
			if ep.IsDynamoDB() {
				return e.dynamoDB
			}
			return e.gateway
		}
	}
	return nil
}

func (b *builder) gatewayPath(cfg *config.Config) *GatewayPath {
	if !cfg.S3.Enabled() {
		return nil
	}
	return b.gatewayPathTo(cfg, &GatewayPath{Addr: cfg.S3.Addr(), Service: "S3", PrefixList: config.S3PrefixList(cfg.Region)})
}

func (b *builder) dynamoDBPath(cfg *config.Config) *GatewayPath {
	if !cfg.DynamoDB.Enabled() {
		return nil
	}
	return b.gatewayPathTo(cfg, &GatewayPath{Addr: cfg.DynamoDB.Addr(), Service: "DynamoDB", PrefixList: config.DynamoDBPrefixList(cfg.Region)})
}

// gatewayPathTo compiles the classes of p's clients and subnets.
func (b *builder) gatewayPathTo(cfg *config.Config, p *GatewayPath) *GatewayPath {
	s3 := p.Addr
	p.class = []gatewayClass{b.noSubnet()}
	var items []ipItem
	for _, c := range cfg.Clients {
		sg := constEval(HopResult{Hop: HopClientSGEgress, Outcome: Allow, Reason: ReasonDefaultEgress, Rule: -1,
			Place: "client " + c.CIDR.String(), Object: DefaultSG})
		if len(c.SecurityGroups) > 0 {
			sg = b.sgConst(HopClientSGEgress, "client "+c.CIDR.String(), c.SecurityGroups, true, s3.Addr(), s3.Port())
		}
		items = append(items, ipItem{c.CIDR, len(items), int32(len(p.class))})
		p.class = append(p.class, b.gatewayClass(cfg, p, c.Subnet, sg))
	}
	for _, s := range cfg.Subnets {
		sg := skipEval(HopClientSGEgress, ReasonUnknownClient, "")
		items = append(items, ipItem{s.CIDR, len(items), int32(len(p.class))})
		p.class = append(p.class, b.gatewayClass(cfg, p, s.ID, sg))
	}
	p.classes = newIPTable(items, 0)
	return p
}

// noSubnet is the class of clients in no declared subnet: no route table.
func (b *builder) noSubnet() gatewayClass {
	c := gatewayClass{}
	c.hops[0] = constEval(HopResult{Hop: HopRouteTable, Outcome: Deny, Reason: ReasonNoRoute, Rule: -1,
		Object: "the client is in no declared subnet, so no route table leads it to a gateway endpoint"})
	for i, h := range gatewayHops[1:] {
		c.hops[1+i] = skipEval(h, ReasonUnknownClient, "")
	}
	return c
}

// gatewayClass compiles the hops of clients in one subnet, with sg their
// security-group hop.
func (b *builder) gatewayClass(cfg *config.Config, p *GatewayPath, subnet string, sg *hopEval) gatewayClass {
	c := gatewayClass{route: GatewayRoute{Subnet: subnet}}
	if s := b.subnets[subnet]; s != nil {
		c.route.AZ = s.AZ
	}
	c.hops[0] = b.routeHop(cfg, p, &c.route)
	c.hops[1] = sg
	c.hops[2] = b.naclConst(HopClientNACLEgress, subnet, true, p.Addr.Addr(), p.Addr.Port())
	c.hops[3] = b.naclByPort(HopClientNACLIngressReturn, subnet, false, p.Addr.Addr())
	return c
}

// routeHop decides the route of a subnet's traffic to the service and
// fills route.
func (b *builder) routeHop(cfg *config.Config, p *GatewayPath, route *GatewayRoute) *hopEval {
	res := HopResult{Hop: HopRouteTable, Outcome: Deny, Reason: ReasonNoRoute, Rule: -1, Place: route.Subnet}
	rt := cfg.RouteTableOf(route.Subnet)
	switch {
	case rt == nil:
		res.Object = fmt.Sprintf("%s has no route table (no route_tables entry lists it and none is main)", route.Subnet)
	case rt.Route(p.PrefixList) == nil:
		route.RouteTable = rt.ID
		res.Object = fmt.Sprintf("%s has no route to %s (%s)", rt.ID, p.PrefixList, p.Service)
	default:
		r := rt.Route(p.PrefixList)
		route.RouteTable, route.Endpoint = rt.ID, r.GatewayEndpoint
		res.Outcome, res.Reason = Allow, ReasonRoute
		res.Object = fmt.Sprintf("%s: %s → %s", rt.ID, p.PrefixList, r.GatewayEndpoint)
	}
	return constEval(res)
}

// Route returns where a client's traffic to the service goes.
func (p *GatewayPath) Route(client netip.Addr) GatewayRoute {
	return p.class[p.classes.lookup(client.Unmap())].route
}

// Check decides a connection from client to the service's endpoint: the route,
// the client's SG egress, its subnet's NACL egress and the NACL return
// path to the client's port. It appends the hops to v (which may be nil)
// and allocates nothing.
func (p *GatewayPath) Check(client netip.AddrPort, v *Verdict) bool {
	a, port := client.Addr().Unmap(), client.Port()
	return checkHops(p.class[p.classes.lookup(a)].hops[:], a, port, v)
}
