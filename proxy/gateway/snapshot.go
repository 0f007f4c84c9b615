package gateway

import (
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/privlink/privlink/acl"
	"github.com/privlink/privlink/acl/iampolicy"
	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/conntrack"
)

// snapshot is one configuration generation as the S3 and DynamoDB fronts
// use it, compiled once and swapped atomically on reload: a connection and
// each request read the snapshot current when they start.
type snapshot struct {
	cfg       *config.Config
	paths     [numServices]*acl.GatewayPath // nil for a service not served
	services  [numServices]string           // com.amazonaws.<region>.s3, ...
	endpoints map[string]*gwEndpoint
	// noRoute holds the connection-table paths of clients denied before
	// any endpoint, by service and subnet ("" = in none).
	noRoute [numServices]map[string]*conntrack.Path
	// ifaces are the interfaces of S3 interface endpoints, by address.
	ifaces map[netip.AddrPort]*ifaceRoute
}

// gwEndpoint is a gateway endpoint: its policy, metrics and table paths.
type gwEndpoint struct {
	id, vpc   string
	sv        service
	iface     bool // an S3 interface endpoint (else a gateway endpoint)
	policy    *iampolicy.Policy
	file      string // where the policy came from ("" inline or default)
	decisions [3]prometheus.Counter
	paths     map[string]*conntrack.Path // by client subnet
}

func (s *Server) compile(cfg *config.Config) *snapshot {
	ev := acl.Compile(cfg)
	snap := &snapshot{cfg: cfg, endpoints: map[string]*gwEndpoint{}}
	pathFor := func(sv service, endpoint, subnet, az string) *conntrack.Path {
		addr, _ := sv.listen(cfg)
		return &conntrack.Path{Iface: addr, Endpoint: endpoint, Service: snap.services[sv], AZ: az, Subnet: subnet}
	}
	for sv := range numServices {
		snap.paths[sv], snap.services[sv] = sv.path(ev), sv.serviceName(cfg.Region)
		snap.noRoute[sv] = map[string]*conntrack.Path{"": pathFor(sv, "", "", "")}
		for _, sn := range cfg.Subnets {
			snap.noRoute[sv][sn.ID] = pathFor(sv, "", sn.ID, sn.AZ)
		}
	}
	for i := range cfg.Endpoints {
		e := &cfg.Endpoints[i]
		if !e.ForAWSService() {
			continue
		}
		ep := &gwEndpoint{id: e.ID, vpc: e.VpcID, sv: serviceOf(e), iface: e.IsS3Interface(), policy: e.Policy.Effective(), file: e.Policy.File, paths: map[string]*conntrack.Path{}}
		for d := range ep.decisions {
			ep.decisions[d] = s.decisions.WithLabelValues(e.ID, iampolicy.Decision(d).String())
		}
		snap.endpoints[e.ID] = ep
	}
	for _, sn := range cfg.Subnets {
		for _, ep := range snap.endpoints {
			ep.paths[sn.ID] = pathFor(ep.sv, ep.id, sn.ID, sn.AZ)
		}
	}
	snap.compileIfaces(cfg, ev)
	return snap
}

// route returns the gateway endpoint a client's traffic to a service
// reaches (nil: no route) and where it comes from.
func (snap *snapshot) route(sv service, client netip.Addr) (*gwEndpoint, acl.GatewayRoute) {
	if snap.paths[sv] == nil {
		return nil, acl.GatewayRoute{}
	}
	rt := snap.paths[sv].Route(client)
	return snap.endpoints[rt.Endpoint], rt
}

// tablePath is the connection-table path of a client of ep (nil: denied
// before any endpoint) in subnet, to a service.
func (snap *snapshot) tablePath(sv service, ep *gwEndpoint, subnet string) *conntrack.Path {
	if ep != nil {
		if p := ep.paths[subnet]; p != nil {
			return p
		}
	}
	if p := snap.noRoute[sv][subnet]; p != nil {
		return p
	}
	return snap.noRoute[sv][""]
}

// kind is the kind of ep's policy: an account principal means the
// account's root user in a gateway endpoint's policy, the whole account in
// an interface endpoint's (AWS, vpc-endpoints-access.html).
func (ep *gwEndpoint) kind() iampolicy.Kind {
	if ep.iface {
		return iampolicy.InterfaceEndpointPolicy
	}
	return iampolicy.GatewayEndpointPolicy
}

// decide evaluates every check of a request: the first that is not
// allowed denies it.
func (ep *gwEndpoint) decide(principal string, checks []Check, ctx iampolicy.Context) (Check, iampolicy.Decision, int) {
	for _, c := range checks {
		r := iampolicy.Request{Principal: principal, Action: c.Action, Resource: c.Resource, Context: ctx}
		if d, i := ep.policy.Decide(&r, ep.kind()); d != iampolicy.Allowed {
			return c, d, i
		}
	}
	return Check{}, iampolicy.Allowed, -1
}

// DecisionCounter returns privlink_policy_decisions_total of an endpoint
// and decision (tests, tools).
func (s *Server) DecisionCounter(endpoint, decision string) prometheus.Counter {
	return s.decisions.WithLabelValues(endpoint, decision)
}
