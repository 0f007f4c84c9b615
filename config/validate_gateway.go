package config

import (
	"net/netip"
	"net/url"
	"regexp"
	"strings"
)

// gateways validates the gateway-endpoint keys — the S3 endpoint, route tables, gateway
// endpoints and the interface endpoints' gateway-only keys — and resolves
// route-table associations both ways: a route to a gateway endpoint
// associates its table with the endpoint, and an endpoint's route_tables
// get the route (AWS adds it when a table is associated).
func (v *validator) gateways() {
	gws := map[string]*Endpoint{}
	var paths, s3s, dyns, ifaces []string
	var list []*Endpoint
	for i := range v.c.Endpoints {
		e, p := &v.c.Endpoints[i], idx("", "endpoints", i)
		if v.unsure(p + ".type") {
			continue // a type that did not decode: its other keys mean nothing yet
		}
		if !e.IsGateway() {
			if v.interfaceGatewayKeys(p, e) {
				ifaces = append(ifaces, p)
			}
			continue
		}
		v.gatewayEndpoint(p, e)
		if e.ID != "" {
			gws[e.ID] = e
		}
		paths, list = append(paths, p), append(list, e)
		if e.IsDynamoDB() {
			dyns = append(dyns, p)
		} else {
			s3s = append(s3s, p)
		}
	}
	v.s3(s3s, ifaces)
	v.dynamoDB(dyns)
	rts := v.routeTables(gws)
	for i, e := range list {
		v.associate(paths[i], e, rts)
	}
}

// isAWSService reports whether a service name is an AWS service's
// (com.amazonaws.<region>.<service>).
func isAWSService(name string) bool {
	return strings.HasPrefix(name, "com.amazonaws.") && !strings.HasPrefix(name, "com.amazonaws.vpce.")
}

// interfaceGatewayKeys checks an interface endpoint's gateway-related keys: an
// S3 interface endpoint takes a policy (it reports true for one); the
// endpoint of an NLB's endpoint service takes none.
func (v *validator) interfaceGatewayKeys(path string, e *Endpoint) bool {
	if len(e.RouteTables) > 0 {
		v.errf(path+".route_tables", "only gateway endpoints (type: gateway) are associated with route tables")
	}
	s3 := S3Service(v.c.Region)
	switch {
	case e.Service == s3:
		v.s3InterfaceEndpoint(path, e)
		return true
	case e.IsS3Interface():
		v.declareEndpoint(path, e)
		v.errf(path+".service", "%s is not in the configuration's region %s: an interface endpoint reaches its own region's S3 (%s)", e.Service, v.c.Region, s3)
	case isAWSService(e.Service):
		v.declareEndpoint(path, e)
		v.errf(path+".service", "interface endpoints for AWS services other than S3 (%s) are not emulated; for DynamoDB use type: gateway", s3)
	case e.Policy.Policy != nil:
		v.errf(path+".policy", "endpoint services of NLBs take no endpoint policy; policies are emulated on gateway endpoints and on S3 interface endpoints (service: %s)", s3)
	}
	return false
}

// s3InterfaceEndpoint checks an interface endpoint for S3: interfaces and
// security groups as any interface endpoint, no principal (AWS services
// accept every endpoint), a policy, and no private DNS (not emulated).
func (v *validator) s3InterfaceEndpoint(path string, e *Endpoint) {
	v.declareEndpoint(path, e)
	if e.ID != "" && !strings.HasPrefix(e.ID, "vpce-") {
		v.warnf(path+".id", "AWS endpoint IDs look like vpce-0123456789abcdef0")
	}
	if e.Principal != "" {
		v.errf(path+".principal", "interface endpoints for AWS services take no principal (S3 accepts every endpoint); requests are signed by the access keys under principals")
	}
	if e.PrivateDNSEnabled {
		v.errf(path+".private_dns_enabled", "private DNS of S3 interface endpoints is not emulated: clients use the interface address (aws --endpoint-url http://IP:%d)", v.c.S3.InterfacePort)
	}
	v.interfaces(path, e, func(p string, in *Interface, unique bool) {
		if unique {
			v.socket(p+".ip", netip.AddrPortFrom(in.IP.Unmap(), v.c.S3.InterfacePort), "S3 interface endpoint")
		}
	})
	if e.VpcID == "" {
		e.VpcID = DefaultVPCID(v.c.AccountID, v.c.Region)
	} else if !strings.HasPrefix(e.VpcID, "vpc-") {
		v.warnf(path+".vpc_id", "AWS VPC IDs look like vpc-0123456789abcdef0")
	}
}

func (v *validator) declareEndpoint(path string, e *Endpoint) {
	if v.declare(path, "endpoint", e.ID, v.eps[e.ID]) {
		v.eps[e.ID] = true
	}
}

func (v *validator) gatewayEndpoint(path string, e *Endpoint) {
	v.declareEndpoint(path, e)
	if e.ID != "" && !strings.HasPrefix(e.ID, "vpce-") {
		v.warnf(path+".id", "AWS endpoint IDs look like vpce-0123456789abcdef0")
	}
	v.gatewayService(path, e.Service)
	if e.Principal != "" {
		v.errf(path+".principal", "gateway endpoints take no principal; requests are signed by the access keys under principals")
	}
	if len(e.SecurityGroups) > 0 {
		v.errf(path+".security_groups", "gateway endpoints have no security groups; allow the service in the clients' SG egress with destination_prefix_list: %s", v.c.PrefixListOf(e))
	}
	if len(e.Interfaces) > 0 {
		v.errf(path+".interfaces", "gateway endpoints have no network interfaces: clients reach the service through their subnet's route table")
	}
	if e.VpcID == "" {
		e.VpcID = DefaultVPCID(v.c.AccountID, v.c.Region)
	} else if !strings.HasPrefix(e.VpcID, "vpc-") {
		v.warnf(path+".vpc_id", "AWS VPC IDs look like vpc-0123456789abcdef0")
	}
}

// s3 checks the S3 endpoint; gateways and ifaces are the paths of gateway
// and interface endpoints to S3.
func (v *validator) s3(gateways, ifaces []string) {
	s := &v.c.S3
	if s.InterfacePort == 0 {
		v.errf("s3.interface_port", "must be 1-65535 (AWS: 80)")
	}
	if !s.Enabled() {
		for _, p := range gateways {
			v.errf(p+".type", "a gateway endpoint needs the S3 endpoint it leads to: set s3.listen (e.g. 127.0.0.1:9000)")
		}
		if len(ifaces) > 0 {
			v.s3Backend(s)
		}
		return
	}
	v.listenKey("s3.listen", s.Listen, "S3 endpoint", "127.0.0.1:9000")
	if len(gateways) == 0 {
		v.warnf("s3.listen", "no gateway endpoint (type: gateway) leads to it: every client gets no path")
	}
	v.s3Backend(s)
}

var bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

func (v *validator) s3Backend(s *S3) {
	if !s.Embedded() {
		if u, err := url.Parse(s.Backend); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.errf("s3.backend", "must be embedded or an http:// or https:// URL of an S3-compatible server, got %q", s.Backend)
		}
		if len(s.Buckets) > 0 {
			v.warnf("s3.buckets", "buckets are created only in the embedded backend; create them in %s yourself", s.Backend)
		}
	}
	seen := map[string]bool{}
	for i, b := range s.Buckets {
		p := idx("s3", "buckets", i)
		switch {
		case !bucketRE.MatchString(b) || strings.Contains(b, ".."):
			v.errf(p, "%q is not an S3 bucket name (3-63 lower-case letters, digits, dots and hyphens)", b)
		case seen[b]:
			v.errf(p, "bucket %q is listed twice", b)
		}
		seen[b] = true
	}
}

// routeTables checks the route tables and returns them by ID.
func (v *validator) routeTables(gws map[string]*Endpoint) map[string]*RouteTable {
	rts := map[string]*RouteTable{}
	assoc := map[string]string{} // subnet → route table path
	mainAt := ""
	for i := range v.c.RouteTables {
		rt, p := &v.c.RouteTables[i], idx("", "route_tables", i)
		if v.declare(p, "route table", rt.ID, rts[rt.ID] != nil) {
			rts[rt.ID] = rt
			if !strings.HasPrefix(rt.ID, "rtb-") {
				v.warnf(p+".id", "AWS route table IDs look like rtb-0123456789abcdef0")
			}
		}
		if rt.Main && mainAt != "" {
			v.errf(p+".main", "%s is already the main route table", mainAt)
		} else if rt.Main {
			mainAt = p
		}
		for j, s := range rt.Subnets {
			sp := idx(p, "subnets", j)
			switch {
			case v.subnets[s] == nil:
				v.errf(sp, "subnet %q is not defined", s)
			case assoc[s] != "":
				v.errf(sp, "subnet %s is already associated with %s (a subnet has one route table)", s, assoc[s])
			default:
				assoc[s] = p
			}
		}
		v.routes(p, rt, gws)
	}
	return rts
}

func (v *validator) routes(path string, rt *RouteTable, gws map[string]*Endpoint) {
	seen := map[string]bool{}
	for i := range rt.Routes {
		r, p := &rt.Routes[i], idx(path, "routes", i)
		if pl, ok := v.prefixList(p+".prefix_list", r.PrefixList); ok {
			r.PrefixList = pl
			if seen[pl] {
				v.errf(p+".prefix_list", "the route table already has a route to %s", pl)
			}
			seen[pl] = true
		}
		e := gws[r.GatewayEndpoint]
		switch {
		case r.GatewayEndpoint == "":
			v.errf(p+".gateway_endpoint", "is required: the gateway endpoint (vpce-...) the route leads to")
		case e == nil && v.eps[r.GatewayEndpoint]:
			v.errf(p+".gateway_endpoint", "%s is an interface endpoint; routes lead to gateway endpoints (type: gateway)", r.GatewayEndpoint)
		case e == nil:
			v.errf(p+".gateway_endpoint", "gateway endpoint %q is not defined under endpoints", r.GatewayEndpoint)
		case r.PrefixList != "" && r.PrefixList != v.c.PrefixListOf(e):
			v.errf(p+".prefix_list", "%s is %s's prefix list, but gateway endpoint %s leads to %s (prefix list %s)",
				r.PrefixList, v.c.serviceOfPrefixList(r.PrefixList), e.ID, v.c.serviceOfPrefixList(v.c.PrefixListOf(e)), v.c.PrefixListOf(e))
		case rt.ID != "" && !contains(e.RouteTables, rt.ID):
			e.RouteTables = append(e.RouteTables, rt.ID)
		}
	}
}

// prefixList normalises a prefix list reference (s3 or dynamodb, the
// service name or the pl- ID) to the prefix list's ID.
func (v *validator) prefixList(path, ref string) (string, bool) {
	id, dyn := S3PrefixList(v.c.Region), DynamoDBPrefixList(v.c.Region)
	switch ref {
	case id, "s3", S3Service(v.c.Region):
		return id, true
	case dyn, "dynamodb", DynamoDBService(v.c.Region):
		return dyn, true
	case "":
		v.errf(path, "is required: s3 (%s, %s) or dynamodb (%s, %s)", id, S3Service(v.c.Region), dyn, DynamoDBService(v.c.Region))
	default:
		v.errf(path, "prefix list %q is not known: in %s S3's prefix list is %s (or write s3), DynamoDB's %s (or write dynamodb)", ref, v.c.Region, id, dyn)
	}
	return "", false
}

// associate adds the route of each route table a gateway endpoint names.
func (v *validator) associate(path string, e *Endpoint, rts map[string]*RouteTable) {
	pl := v.c.PrefixListOf(e)
	for i, id := range e.RouteTables {
		rt, p := rts[id], idx(path, "route_tables", i)
		switch {
		case rt == nil:
			v.errf(p, "route table %q is not defined under route_tables", id)
		case contains(e.RouteTables[:i], id):
			v.errf(p, "route table %s is listed twice", id)
		case rt.Route(pl) == nil:
			rt.Routes = append(rt.Routes, Route{PrefixList: pl, GatewayEndpoint: e.ID})
		case rt.Route(pl).GatewayEndpoint != e.ID:
			v.errf(p, "route table %s already routes %s (%s) to %s; a route table has one route per prefix list", id, pl, v.c.serviceOfPrefixList(pl), rt.Route(pl).GatewayEndpoint)
		}
	}
	if len(e.RouteTables) == 0 {
		v.warnf(path+".route_tables", "no route table leads to this gateway endpoint: no client can use it")
	}
}

// prefixListRule checks an SG rule that names a prefix list.
func (v *validator) prefixListRule(path string, r *SGRule, groupKey string) {
	switch {
	case groupKey != "destination_group":
		v.errf(path+".destination_prefix_list", "prefix lists are emulated in egress rules only")
	case r.CIDR.IsValid() || r.Group() != "":
		v.errf(path, "give one of cidr, destination_group or destination_prefix_list")
	default:
		if id, ok := v.prefixList(path+".destination_prefix_list", r.DestinationPrefixList); ok {
			r.DestinationPrefixList = id
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
